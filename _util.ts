// Copyright 2026 the Duplex authors. MIT license.
// Small helpers the root files share: one name and one home for each.
// Internal: not exported from mod.ts.

import { ConnectionError, TimeoutError } from "./errors.ts";

export { concatBytes } from "./codec/_bytes.ts";

// Promises

/** Marks a promise as handled, so that nobody awaiting it never crashes the process. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** A rejected promise that crashes nothing if nobody awaits it. */
export function rejected<T>(error: unknown): Promise<T> {
  return handled(Promise.reject(error));
}

/** `Promise.withResolvers()`, its promise marked as handled. */
export function handledResolvers<T>(): PromiseWithResolvers<T> {
  const resolvers = Promise.withResolvers<T>();
  handled(resolvers.promise);
  return resolvers;
}

// Bytes

/**
 * The bytes of binary data a caller sends, as a view of its memory (not a
 * copy): what `send()` and `broadcast()` accept besides strings.
 */
export function viewOf(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new TypeError("Cannot send: data must be a string, an ArrayBuffer or an ArrayBufferView");
}

// URLs

/**
 * The ws: or wss: URL of an http: or https: one. Joined rather than
 * concatenated: join makes one flat string, where `+` or replace() would
 * keep a rope holding a slice of the request's URL for the connection's life.
 */
export function webSocketUrl(url: string): string {
  return url.startsWith("http") ? ["ws", url.slice(4)].join("") : url;
}

// Transport

/** Writes all of `data`, however many calls the socket needs. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = await conn.write(data);
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

/** Closes a connection, or a listener, that may be closed already. */
export function closeQuietly(closable: { close(): void } | undefined | null): void {
  try {
    closable?.close();
  } catch {
    // Already closed.
  }
}

/** Turns a Deno I/O error into a {@linkcode ConnectionError}. */
export function transportError(error: unknown, what: string): Error {
  if (error instanceof ConnectionError || error instanceof TimeoutError) return error;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new ConnectionError("CONNECTION_REFUSED", `${what}: the connection was refused`, {
      cause: error,
    });
  }
  if (
    error instanceof Deno.errors.NotFound ||
    // Deno 2.9 reports a failed DNS lookup as a plain Error.
    (error instanceof Error &&
      /failed to lookup address|name or service not known|no address associated|nodename nor servname/i
        .test(error.message))
  ) {
    return new ConnectionError("HOST_NOT_FOUND", `${what}: the host was not found`, {
      cause: error,
    });
  }
  if (
    error instanceof Deno.errors.InvalidData ||
    (error instanceof Error && /certificate|tls/i.test(error.message))
  ) {
    return new ConnectionError(
      "TLS_ERROR",
      `${what}: the TLS handshake failed (${(error as Error).message})`,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectionError("CONNECTION_RESET", `${what}: ${message}`, { cause: error });
}
