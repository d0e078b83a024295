// Copyright 2026 the Duplex authors. MIT license.
// permessage-deflate on Deno: the codec's MessageCompressor over node:zlib's
// synchronous raw DEFLATE. Each message is compressed on its own (no context
// takeover), so nothing is kept between messages.

import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import type { MessageCompressor } from "./codec/deflate.ts";

/** How messages are compressed; see the `compression` connection option. */
export interface CompressionOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed. Default
   * 1,024: below that, compressing costs more time than it saves bytes.
   */
  threshold?: number;
  /** The zlib compression level, 1 (fastest) to 9 (smallest). Default 1. */
  level?: number;
}

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

/** Reads the `compression` option: `undefined` when off. */
export function compressionOf(
  option: boolean | CompressionOptions | undefined,
): CompressionOptions | undefined {
  if (option === undefined || option === false) return undefined;
  return option === true ? {} : option;
}
