// Copyright 2026 the Duplex authors. MIT license.
/**
 * The chat for `deno serve`: `DENO_JOBS=4 deno serve --parallel -A
 * examples/chat/serve.ts` runs one Worker per job, each loading this module
 * with its own hub, and the `BroadcastChannel` backplane makes them one chat.
 * (Under `deno serve`, connections are Deno's native WebSockets, through
 * Duplex's adapter.)
 *
 * @module
 */

import { BroadcastChannelBackplane } from "../../mod.ts";
import { createChat } from "./server.ts";

const { handler } = createChat({ backplane: new BroadcastChannelBackplane({ namespace: "chat" }) });

export default { fetch: handler } satisfies Deno.ServeDefaultExport;
