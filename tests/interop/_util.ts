// Copyright 2026 the Duplex authors. MIT license.
// Helpers for interop tests against peers we did not write.
import assert from "node:assert/strict";
import type { WebSocketConnection } from "../../mod.ts";

/** Message sizes every interop test covers: each length encoding and its edges, up to 16 MiB. */
export const SIZES: number[] = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];

/** A deterministic payload of `size` bytes. */
export function binaryOf(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** A deterministic text of `size` UTF-8 bytes, mixing 1-, 2- and 3-byte characters. */
export function textOf(size: number): string {
  const unit = "aé€"; // 1 + 2 + 3 = 6 bytes
  const text = unit.repeat(Math.floor(size / 6));
  return text + "x".repeat(size - Math.floor(size / 6) * 6);
}

/**
 * Sends text and binary of each size through an echoing peer and checks
 * that each comes back the same, with its type.
 */
export async function assertEchoes(client: WebSocketConnection, sizes: number[]): Promise<void> {
  for (const size of sizes) {
    const text = textOf(size);
    await client.send(text);
    assert.equal(await client.receive(), text, `text of ${size} bytes`);
    const bytes = binaryOf(size);
    await client.send(bytes);
    const echoed = await client.receive();
    assert.ok(echoed instanceof Uint8Array && sameBytes(echoed, bytes), `binary of ${size} bytes`);
  }
}

/** Resolves with the first event of `type` from a WHATWG event target. */
export function once<E extends Event>(target: EventTarget, type: string): Promise<E> {
  return new Promise((resolve) =>
    target.addEventListener(type, (event) => resolve(event as E), { once: true })
  );
}

/** Resolves with the next `n` events of `type`, as they arrive. */
export function collect<E extends Event>(
  target: EventTarget,
  type: string,
  n: number,
): Promise<E[]> {
  return new Promise((resolve) => {
    const events: E[] = [];
    const listener = (event: Event) => {
      events.push(event as E);
      if (events.length === n) {
        target.removeEventListener(type, listener);
        resolve(events);
      }
    };
    target.addEventListener(type, listener);
  });
}

/** Whether two byte arrays are equal; faster than deepEqual on megabytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Message `i` of a deterministic mix: mostly small chat-like JSON text,
 * some binary (repetitive or random), now and then an empty message or
 * one of up to 64 KiB.
 */
export function mixedMessage(i: number): string | Uint8Array {
  const kind = (i * 2654435761 >>> 0) % 100;
  if (kind < 55) {
    return JSON.stringify({
      type: "message",
      room: ["lobby", "deno", "rust"][i % 3],
      nick: ["alice", "bob", "carol", "dave"][i % 4],
      text: `message ${i}: ${"so it goes ".repeat(i % 7)}`,
      at: 1_700_000_000_000 + i * 137,
    });
  }
  if (kind < 65) return textOf(((i * 7919) % 2000) + 1);
  if (kind < 80) return new Uint8Array((i * 31) % 3000).map((_, j) => (j % 17) * (i % 5));
  if (kind < 92) return binaryOf((i * 97) % 1500, i);
  if (kind < 95) return i % 2 === 0 ? "" : new Uint8Array(0);
  return kind < 98 ? textOf(16_000 + (i % 40_000)) : binaryOf(64 * 1024, i);
}

/** Whether a received message is `expected`, type included. */
export function sameMessage(received: unknown, expected: string | Uint8Array): boolean {
  if (typeof expected === "string") return received === expected;
  return received instanceof Uint8Array && sameBytes(received, expected);
}

/**
 * Sends `count` messages of {@linkcode mixedMessage} through an echoing
 * peer, `window` in flight, and checks every echo byte for byte, in order.
 */
export async function assertMixedEchoes(
  client: WebSocketConnection,
  count: number,
  window = 16,
): Promise<void> {
  let sent = 0;
  for (; sent < Math.min(window, count); sent++) client.send(mixedMessage(sent));
  for (let received = 0; received < count; received++) {
    const message = await client.receive({ timeout: 10_000 });
    assert.ok(
      sameMessage(message, mixedMessage(received)),
      `message ${received} came back changed`,
    );
    if (sent < count) client.send(mixedMessage(sent++));
  }
}
