// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate on Deno: the codec's PerMessageDeflate with a
// MessageCompressor over node:zlib's synchronous raw DEFLATE. Each message is
// compressed on its own (no context takeover), so nothing is kept between
// messages.

import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import {
  type CompressionOptions,
  type MessageCompressor,
  PerMessageDeflate,
} from "./codec/deflate.ts";

/**
 * A compressor for one negotiated agreement.
 *
 * @param windowBits The window the peer allowed this side to compress with (9–15).
 * @param level The zlib level.
 */
export function zlibCompressor(windowBits: number, level: number): MessageCompressor {
  const deflateOptions = { finishFlush: constants.Z_SYNC_FLUSH, windowBits, level };
  return {
    compress(data: Uint8Array): Uint8Array {
      const out = deflateRawSync(data, deflateOptions);
      // A sync flush ends with the empty stored block 00 00 ff ff: RFC 7692
      // §7.2.1 takes it off.
      return out.subarray(0, out.length - 4);
    },
    decompress(data: Uint8Array, maxSize: number): Uint8Array {
      // RFC 7692 §7.2.2 appends 00 00 ff ff, an empty stored block that
      // produces no output: an inflate that ends with a sync flush needs it
      // not, so the payload is inflated where it lies, without a copy.
      // maxOutputLength stops a small message that inflates to gigabytes
      // early, with a RangeError.
      const out = inflateRawSync(data, {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: Math.max(1, maxSize),
      });
      // A plain Uint8Array, as every other message is, over memory of its
      // own: a small Buffer may be a slice of a shared pool.
      return out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
        ? new Uint8Array(out.buffer, 0, out.byteLength)
        : new Uint8Array(out);
    },
  };
}

/**
 * The extension for the `compression` option, on `node:zlib`: `undefined`
 * when off. Bad settings throw here, before any network activity.
 *
 * @throws {RangeError} For a bad threshold or level.
 */
export function deflateFor(
  option: boolean | CompressionOptions | undefined,
): PerMessageDeflate | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (typeof option !== "object" || option === null)) {
    throw new TypeError("Cannot use compression: the option must be a boolean or an object");
  }
  const settings = option === true ? {} : option;
  // One extension object per setting, so that connections with the same
  // settings share compressors, and a broadcast is compressed once for them.
  const { threshold, level } = settings;
  // Only numbers make a key: anything else goes to the constructor, which refuses it.
  const key = (threshold === undefined || typeof threshold === "number") &&
      (level === undefined || typeof level === "number")
    ? `${threshold}/${level}`
    : "";
  let deflate = key === "" ? undefined : shared.get(key);
  if (deflate === undefined) {
    deflate = new PerMessageDeflate(zlibCompressor, settings); // throws for bad settings
    if (key !== "" && shared.size < MAX_SHARED) shared.set(key, deflate);
  }
  return deflate;
}

const shared = new Map<string, PerMessageDeflate>();
const MAX_SHARED = 64;
