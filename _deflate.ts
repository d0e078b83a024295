// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate on Deno: the codec's DeflateEngine over node:zlib.
//
// Context takeover needs a DEFLATE stream that lives across messages and is
// flushed, synchronously, at the end of each. node:zlib's synchronous
// functions are one-shot (they end the stream), and its streams are
// asynchronous; so each zlib RawDeflater and RawInflater here owns a zlib
// stream object only for its native handle, which it drives with
// writeSync() and a sync flush, as node:zlib's own synchronous path does
// inside. The output goes through one scratch buffer shared by every
// stream (calls never interleave).
//
// A connection's own compressor (context takeover) is the codec's Deflater
// instead: Deno's zlib takes about 150 KiB per deflate stream whatever the
// window and memLevel (bench/RESULTS.md, "permessage-deflate"), the
// Deflater 24 KiB at the defaults. The shared compressors of the sides
// without takeover, one per window for every connection, stay on zlib,
// which is faster (on 64 KiB messages, three times). Inflating is zlib's:
// 14 KiB per stream at 12 bits.
//
// zlib cannot make raw DEFLATE with a 256-byte window: node:zlib turns a
// request for 8 bits into 9. That stays within what a peer that allowed 8
// bits accepts, because zlib never matches further back than the window
// less its 262-byte lookahead: 250 bytes at 9 bits (tests/deflate_test.ts
// reads the distances back for every window size). Internal.

import zlib from "node:zlib";
import { Deflater } from "./codec/deflater.ts";
import { concatBytes } from "./codec/_bytes.ts";
import {
  type CompressionOptions,
  type DeflateEngine,
  type DeflaterOptions,
  PerMessageDeflate,
  type RawDeflater,
  type RawInflater,
} from "./codec/deflate.ts";

const { constants } = zlib;

/** What a node:zlib stream object holds for its synchronous path. */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  reset(): void;
  close(): void;
  onerror: (message: string, errno: number) => void;
}

interface ZlibStreamInternals {
  _handle: ZlibHandle | null;
  // [avail_out, avail_in] after each writeSync.
  _writeState: Uint32Array;
}

// One scratch buffer for every stream's output: calls are synchronous and
// never interleave.
const SCRATCH = new Uint8Array(64 * 1024);
// RFC 7692 §7.2.2: the receiver appends the empty stored block's tail.
const TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** A zlib stream driven synchronously, flushed with Z_SYNC_FLUSH. */
class SyncStream {
  readonly #handle: ZlibHandle;
  readonly #state: Uint32Array;
  #error: string | null = null;
  #closed = false;
  /** Input the last run() left unconsumed: the stream had ended (a final block). */
  left = 0;

  constructor(stream: ZlibStreamInternals) {
    const handle = stream._handle;
    if (handle === null || typeof handle.writeSync !== "function") {
      throw new Error("Cannot use compression: node:zlib has no synchronous stream handle here");
    }
    this.#handle = handle;
    this.#state = stream._writeState;
    // Errors are reported during writeSync(); node:zlib's own handler would
    // destroy the stream object on a later tick, which this never uses.
    handle.onerror = (message) => {
      this.#error = message;
    };
  }

  /**
   * Runs `input` through the stream with a sync flush, returning what it
   * produced (at most `limit` bytes, else a RangeError).
   */
  run(input: Uint8Array, limit: number): Uint8Array {
    if (this.#closed) throw new Error("The compression stream is closed");
    const handle = this.#handle;
    const state = this.#state;
    let offset = 0;
    let left = input.length;
    let chunks: Uint8Array[] | null = null;
    let size = 0;
    while (true) {
      handle.writeSync(constants.Z_SYNC_FLUSH, input, offset, left, SCRATCH, 0, SCRATCH.length);
      if (this.#error !== null) {
        const message = this.#error;
        this.#error = null;
        throw new Error(message);
      }
      const availOut = state[0]!;
      const availIn = state[1]!;
      const produced = SCRATCH.length - availOut;
      size += produced;
      if (size > limit) {
        throw new RangeError(`Cannot inflate: the message is larger than ${limit} bytes`);
      }
      offset += left - availIn;
      left = availIn;
      // Room left in the output: the input is consumed and flushed (or,
      // after a final block, left where the stream ended).
      if (availOut !== 0) {
        this.left = left;
        if (chunks === null) return SCRATCH.slice(0, produced);
        chunks.push(SCRATCH.slice(0, produced));
        break;
      }
      (chunks ??= []).push(SCRATCH.slice(0, produced));
    }
    return concatBytes(chunks);
  }

  reset(): void {
    if (!this.#closed) this.#handle.reset();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
  }
}

class ZlibDeflater implements RawDeflater {
  readonly #stream: SyncStream;

  constructor(options: DeflaterOptions) {
    const { windowBits, level, memLevel } = options;
    this.#stream = new SyncStream(
      zlib.createDeflateRaw({
        // 9 for 8: its matches reach at most 250 bytes back (see above).
        windowBits: Math.max(9, windowBits),
        level,
        memLevel,
        // The object's own output buffer is never used: keep it small.
        chunkSize: 64,
      }) as unknown as ZlibStreamInternals,
    );
  }

  deflate(data: Uint8Array): Uint8Array {
    const out = this.#stream.run(data, Infinity);
    // Nothing to flush (an empty message right after a flush): zlib writes
    // nothing at all. The message is then the header byte of an empty
    // stored block (§7.2.3.6), which the peer's appended tail completes;
    // an empty payload would leave a takeover peer's stream mid-block.
    if (out.length < 4) return new Uint8Array(1);
    // A sync flush ends with the empty stored block 00 00 ff ff: RFC 7692
    // §7.2.1 takes it off.
    return out.subarray(0, out.length - 4);
  }

  reset(): void {
    this.#stream.reset();
  }

  close(): void {
    this.#stream.close();
  }
}

class ZlibInflater implements RawInflater {
  readonly #stream: SyncStream;

  constructor(windowBits: number) {
    this.#stream = new SyncStream(
      zlib.createInflateRaw({ windowBits, chunkSize: 64 }) as unknown as ZlibStreamInternals,
    );
  }

  inflate(data: Uint8Array, maxSize: number): Uint8Array {
    // An empty payload holds no block: an empty message (some peers send it
    // so). Appending the tail to nothing would leave the stream mid-block.
    if (data.length === 0) return new Uint8Array(0);
    const stream = this.#stream;
    const out = stream.run(data, maxSize);
    // §7.2.2: the tail, which produces no output, leaves the stream where
    // the next message (with context takeover) continues it.
    if (stream.left === 0) stream.run(TAIL, 0);
    // A message with a final block (BFINAL, §7.2.3.4) has ended the DEFLATE
    // stream: what follows it is padding, and the next message starts a new
    // stream. (A peer that finishes its stream cannot refer back across it.)
    if (stream.left !== 0) stream.reset();
    return out;
  }

  reset(): void {
    this.#stream.reset();
  }

  close(): void {
    this.#stream.close();
  }
}

/** The node:zlib engine for {@linkcode PerMessageDeflate}. */
export const zlibEngine: DeflateEngine = {
  deflater: (options) =>
    options.contextTakeover === true ? new Deflater(options) : new ZlibDeflater(options),
  inflater: (windowBits) => new ZlibInflater(windowBits),
};

/**
 * The extension for the `compression` option, on `node:zlib`: `undefined`
 * when off. Bad settings throw here, before any network activity.
 *
 * @throws {TypeError} For an option of the wrong type.
 * @throws {RangeError} For a value out of range.
 */
export function deflateFor(
  option: boolean | CompressionOptions | undefined,
): PerMessageDeflate | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return DEFAULT ??= new PerMessageDeflate(zlibEngine);
  if (typeof option !== "object" || option === null) {
    throw new TypeError("Cannot use compression: the option must be a boolean or an object");
  }
  // One extension object per setting, so that connections made with the
  // same settings share compressors (and a broadcast is compressed once for
  // those without context takeover), and share the cap on takeover
  // contexts: by value for settings of plain numbers and booleans (a
  // literal in each connect() call is the same setting), else by object.
  const key = keyOf(option);
  let deflate = (key === null ? undefined : byValue.get(key)) ?? byObject.get(option);
  if (deflate === undefined) {
    deflate = new PerMessageDeflate(zlibEngine, option); // throws for bad settings
    if (key !== null && byValue.size < MAX_SHARED) byValue.set(key, deflate);
    else byObject.set(option, deflate);
  }
  return deflate;
}

const FIELDS = [
  "threshold",
  "level",
  "memLevel",
  "serverMaxWindowBits",
  "clientMaxWindowBits",
  "serverNoContextTakeover",
  "clientNoContextTakeover",
  "maxTakeoverContexts",
] as const;

/** The settings as a string, when every field is a number, a boolean or absent; else null. */
function keyOf(option: CompressionOptions): string | null {
  const record = option as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (!(FIELDS as readonly string[]).includes(name)) return null;
  }
  let key = "";
  for (const name of FIELDS) {
    const value = record[name];
    if (value !== undefined && typeof value !== "number" && typeof value !== "boolean") return null;
    key += `${String(value)}/`;
  }
  return key;
}

const MAX_SHARED = 64;
const byValue = new Map<string, PerMessageDeflate>();
const byObject = new WeakMap<CompressionOptions, PerMessageDeflate>();
let DEFAULT: PerMessageDeflate | undefined;
