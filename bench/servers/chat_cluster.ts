// Copyright 2026 the Duplex authors. MIT license.
// Benchmark server for bench/cluster.ts: a Hub with default options where
// every message is broadcast to the room "chat" it joined on open, as the
// chat benchmarks of Bun and uWS do.
//
//   deno run -A [--unstable-net] bench/servers/chat_cluster.ts PORT [none|broadcast-channel|redis] [WORKERS] [REDIS_URL]
//
// With WORKERS > 1 it runs that many Workers on one port (SO_REUSEPORT),
// which needs --unstable-net. Prints "ready PORT" once every node listens
// (and, on Redis, once its backplane is connected).
/// <reference lib="deno.worker" />
import { type Backplane, BroadcastChannelBackplane, Hub, serve } from "../../mod.ts";

interface Command {
  port: number;
  backplane: "none" | "broadcast-channel" | "redis";
  reusePort: boolean;
  redis: string;
}

async function node(command: Command): Promise<number> {
  let backplane: Backplane | undefined;
  if (command.backplane === "broadcast-channel") {
    backplane = new BroadcastChannelBackplane({ namespace: "bench" });
  } else if (command.backplane === "redis") {
    const { RedisBackplane } = await import("../../redis.ts");
    backplane = new RedisBackplane({ url: command.redis, namespace: "bench" });
  }
  const hub = new Hub({ pingInterval: 0, ...(backplane ? { backplane } : {}) });
  hub.on("open", (connection) => connection.join("chat"));
  hub.on("message", (_connection, message) => hub.broadcast(message, { room: "chat" }));
  hub.on("backplaneError", (error) => console.error(`backplane: ${error.message}`));
  const server = serve({
    hostname: "127.0.0.1",
    port: command.port,
    onListen() {},
    ...(command.reusePort ? { reusePort: true } : {}),
  }, hub.handler);
  while (backplane !== undefined && !hub.stats().backplane!.connected) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return server.addr.port;
}

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
  "undefined";
if (inWorker) {
  self.onmessage = async (event: MessageEvent<Command>) => {
    self.postMessage(await node(event.data));
  };
  self.postMessage("loaded");
} else {
  const [port = "0", backplane = "none", workers = "1", redis = "redis://127.0.0.1:6379"] =
    Deno.args;
  const count = Number(workers);
  const command: Command = {
    port: Number(port),
    backplane: backplane as Command["backplane"],
    reusePort: count > 1,
    redis,
  };
  if (count === 1) {
    console.log(`ready ${await node(command)}`);
  } else {
    // The first Worker picks the port; the others bind the same one.
    let chosen = command.port;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(import.meta.url, { type: "module" });
      chosen = await new Promise<number>((resolve) => {
        worker.onmessage = (event) => {
          if (event.data === "loaded") worker.postMessage({ ...command, port: chosen });
          else resolve(event.data);
        };
      });
    }
    console.log(`ready ${chosen}`);
  }
}
