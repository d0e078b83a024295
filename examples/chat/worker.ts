// Copyright 2026 the Duplex authors. MIT license.
/**
 * One Worker of `examples/chat/server.ts --workers N`: it is told the port
 * and backplane, serves with `SO_REUSEPORT` as one node of the chat, and
 * stops gracefully when told to.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { type Chat, type ChatCommand, runChat, stopChat } from "./server.ts";

let chat: Chat | undefined;
self.onmessage = async (event: MessageEvent<ChatCommand | "stop">) => {
  if (event.data === "stop") {
    if (chat !== undefined) await stopChat(chat);
    self.postMessage("stopped");
    return;
  }
  try {
    chat = await runChat(event.data);
  } catch (error) {
    self.postMessage({ error: `${(error as Error).name}: ${(error as Error).message}` });
  }
};
// Messages sent before this module finished loading (server.ts awaits its
// page) are not delivered: the parent sends the command on this.
self.postMessage("ready");
