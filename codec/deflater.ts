// Copyright 2026 the Duplex authors. MIT license.
/**
 * A DEFLATE compressor (RFC 1951) written for permessage-deflate: a
 * {@linkcode RawDeflater} whose state is only what its window needs, so
 * that a connection with context takeover costs kilobytes, not the
 * 150 KiB a zlib-ng stream takes whatever its settings.
 *
 * - LZ77 over a window of `2 ** windowBits` bytes (8 to 15, all honoured:
 *   no match ever reaches further back), with hash chains as zlib has them
 *   and its lazy matching from level 4 up.
 * - Each message ends with a sync flush; its block is stored, fixed or
 *   dynamic Huffman, whichever is smallest.
 * - Memory per compressor: a window of `2 * max(2 ** windowBits, 4096)`
 *   bytes, a chain of as many 16-bit links as the window half, and a hash
 *   table of `2 ** (memLevel + 7)` 16-bit heads: 24 KiB at 12 bits and
 *   memLevel 5. Symbols, frequencies and output are shared by every
 *   compressor (calls are synchronous and never interleave).
 *
 * This module is browser-compatible.
 *
 * @module
 */

import type { DeflaterOptions, RawDeflater } from "./deflate.ts";

const MIN_MATCH = 3;
const MAX_MATCH = 258;
const END_BLOCK = 256;
const L_CODES = 286;
const D_CODES = 30;
const BL_CODES = 19;
const MAX_BITS = 15;
const MAX_BL_BITS = 7;
// A 3-byte match further back than this is not worth its distance code.
const TOO_FAR = 4096;
// Symbols per block before it is written out (as zlib's lit_bufsize).
const SYMBOLS = 16384;
// Fewer symbols than this are written with fixed or stored codes only.
const DYNAMIC_FROM = 96;

// [good, lazy, nice, chain, lazy matching] per level, 1 to 9 (zlib's table).
const LEVELS: readonly (readonly [number, number, number, number, boolean])[] = [
  [4, 4, 8, 4, false],
  [4, 5, 16, 8, false],
  [4, 6, 32, 32, false],
  [4, 4, 16, 16, true],
  [8, 16, 32, 32, true],
  [8, 16, 128, 128, true],
  [8, 32, 128, 256, true],
  [32, 128, 258, 1024, true],
  [32, 258, 258, 4096, true],
];

const LENGTH_BASE = [
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  13,
  15,
  17,
  19,
  23,
  27,
  31,
  35,
  43,
  51,
  59,
  67,
  83,
  99,
  115,
  131,
  163,
  195,
  227,
  258,
];
const LENGTH_EXTRA = [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
  1,
  1,
  1,
  2,
  2,
  2,
  2,
  3,
  3,
  3,
  3,
  4,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  0,
];
const DIST_BASE = [
  1,
  2,
  3,
  4,
  5,
  7,
  9,
  13,
  17,
  25,
  33,
  49,
  65,
  97,
  129,
  193,
  257,
  385,
  513,
  769,
  1025,
  1537,
  2049,
  3073,
  4097,
  6145,
  8193,
  12289,
  16385,
  24577,
];
const DIST_EXTRA = [
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
];
const BL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// Length (3–258) → its code (0–28); distance → its code, by (d - 1) below
// 256 and by 256 + ((d - 1) >> 7) above.
const LENGTH_CODE = new Uint8Array(256);
const DIST_CODE = new Uint8Array(512);
for (let code = 0; code < 29; code++) {
  for (let n = 0; n < 1 << LENGTH_EXTRA[code]!; n++) {
    const length = LENGTH_BASE[code]! + n;
    if (length <= MAX_MATCH) LENGTH_CODE[length - MIN_MATCH] = code;
  }
}
LENGTH_CODE[MAX_MATCH - MIN_MATCH] = 28;
for (let code = 0; code < D_CODES; code++) {
  for (let n = 0; n < 1 << DIST_EXTRA[code]!; n++) {
    const d = DIST_BASE[code]! + n - 1;
    if (d < 256) DIST_CODE[d] = code;
    else DIST_CODE[256 + (d >> 7)] = code;
  }
}

function distCode(distance: number): number {
  const d = distance - 1;
  return d < 256 ? DIST_CODE[d]! : DIST_CODE[256 + (d >> 7)]!;
}

const codeCount = new Uint16Array(MAX_BITS + 1);
const codeNext = new Uint16Array(MAX_BITS + 1);

/** Bit-reversed canonical codes for a set of code lengths (DEFLATE writes them LSB first). */
function codesOf(lengths: Uint8Array, codes: Uint16Array): void {
  const count = codeCount.fill(0);
  for (let i = 0; i < lengths.length; i++) count[lengths[i]!]!++;
  count[0] = 0;
  const next = codeNext;
  for (let bits = 1, code = 0; bits <= MAX_BITS; bits++) {
    code = (code + count[bits - 1]!) << 1;
    next[bits] = code;
  }
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i]!;
    if (length === 0) continue;
    let code = next[length]!++;
    let reversed = 0;
    for (let b = 0; b < length; b++) {
      reversed = (reversed << 1) | (code & 1);
      code >>= 1;
    }
    codes[i] = reversed;
  }
}

const FIXED_LIT_LENGTHS = new Uint8Array(288).map((_, i) =>
  i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8
);
const FIXED_DIST_LENGTHS = new Uint8Array(D_CODES).fill(5);
const FIXED_LIT_CODES = new Uint16Array(288);
const FIXED_DIST_CODES = new Uint16Array(D_CODES);
codesOf(FIXED_LIT_LENGTHS, FIXED_LIT_CODES);
codesOf(FIXED_DIST_LENGTHS, FIXED_DIST_CODES);

// Scratch for lengthsOf(): the largest alphabet is the literal/length one.
const hSymbols = new Int32Array(L_CODES);
const hWeight = new Float64Array(2 * L_CODES);
const hParent = new Int32Array(2 * L_CODES);
const hDepth = new Uint8Array(2 * L_CODES);
const hCount = new Uint16Array(64);

/**
 * Huffman code lengths of at most `maxBits` for the frequencies, zlib's way:
 * a Huffman tree, then overlong codes pulled up and the counts rebalanced.
 * At least two symbols get a code, so that the code is complete.
 */
function lengthsOf(freq: Uint32Array, count: number, maxBits: number, out: Uint8Array): void {
  out.fill(0, 0, count);
  let leaves = 0;
  for (let i = 0; i < count; i++) if (freq[i]! !== 0) hSymbols[leaves++] = i;
  // The leaves in ascending order of frequency, then symbol.
  hSymbols.subarray(0, leaves).sort((a, b) => freq[a]! - freq[b]! || a - b);
  if (leaves < 2) {
    // One symbol (or none) still needs a complete code of two.
    const only = leaves === 1 ? hSymbols[0]! : 0;
    out[only] = 1;
    out[only === 0 ? 1 : 0] = 1;
    return;
  }
  // Two queues: the sorted leaves, and the internal nodes as they are made.
  for (let i = 0; i < leaves; i++) hWeight[i] = freq[hSymbols[i]!]!;
  let leaf = 0;
  let node = leaves;
  let made = leaves;
  const total = 2 * leaves - 1;
  while (made < total) {
    const a = leaf < leaves && (node >= made || hWeight[leaf]! <= hWeight[node]!) ? leaf++ : node++;
    const b = leaf < leaves && (node >= made || hWeight[leaf]! <= hWeight[node]!) ? leaf++ : node++;
    hWeight[made] = hWeight[a]! + hWeight[b]!;
    hParent[a] = made;
    hParent[b] = made;
    made++;
  }
  hCount.fill(0);
  hDepth[made - 1] = 0;
  let overflow = 0;
  for (let n = made - 2; n >= 0; n--) {
    const depth = hDepth[hParent[n]!]! + 1;
    hDepth[n] = depth;
    if (n < leaves) {
      if (depth > maxBits) {
        overflow++;
        hCount[maxBits]!++;
      } else hCount[depth]!++;
    }
  }
  // zlib's gen_bitlen: each overlong leaf moved up costs a shorter one.
  while (overflow > 0) {
    let bits = maxBits - 1;
    while (hCount[bits] === 0) bits--;
    hCount[bits]!--;
    hCount[bits + 1]! += 2;
    hCount[maxBits]!--;
    overflow -= 2;
  }
  // The longest codes to the rarest symbols.
  let i = 0;
  for (let bits = maxBits; bits > 0; bits--) {
    for (let n = hCount[bits]!; n > 0; n--) out[hSymbols[i++]!] = bits;
  }
}

// Shared by every deflater: calls are synchronous and never interleave.
const symLength = new Uint16Array(SYMBOLS);
const symValue = new Uint16Array(SYMBOLS);
let symbols = 0;
const litFreq = new Uint32Array(L_CODES);
const distFreq = new Uint32Array(D_CODES);
const blFreq = new Uint32Array(BL_CODES);
const litLengths = new Uint8Array(L_CODES);
const distLengths = new Uint8Array(D_CODES);
const blLengths = new Uint8Array(BL_CODES);
const litCodes = new Uint16Array(L_CODES);
const distCodes = new Uint16Array(D_CODES);
const blCodes = new Uint16Array(BL_CODES);
// The code-length sequence of a dynamic block, run-length coded: symbol, extra.
const rleSymbols = new Uint8Array(L_CODES + D_CODES);
const rleExtra = new Uint8Array(L_CODES + D_CODES);
const allLengths = new Uint8Array(L_CODES + D_CODES);

// The dynamic block planned by #planDynamic(), for #writeDynamic().
const plan = { hlit: 0, hdist: 0, hclen: 0, runs: 0 };

let out = new Uint8Array(64 * 1024);
let outPos = 0;
let bitBuf = 0;
let bitCount = 0;

function ensure(bytes: number): void {
  if (outPos + bytes <= out.length) return;
  const grown = new Uint8Array(Math.max(out.length * 2, outPos + bytes));
  grown.set(out.subarray(0, outPos));
  out = grown;
}

function bits(value: number, count: number): void {
  bitBuf |= value << bitCount;
  bitCount += count;
  while (bitCount >= 8) {
    out[outPos++] = bitBuf & 0xff;
    bitBuf >>>= 8;
    bitCount -= 8;
  }
}

function align(): void {
  if (bitCount > 0) out[outPos++] = bitBuf & 0xff;
  bitBuf = 0;
  bitCount = 0;
}

/** Bits the block's symbols take with these code lengths, extra bits included. */
function dataBits(lit: Uint8Array, dist: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < L_CODES; i++) {
    const f = litFreq[i]!;
    if (f === 0) continue;
    total += f * lit[i]!;
    if (i > END_BLOCK) total += f * LENGTH_EXTRA[i - 257]!;
  }
  for (let i = 0; i < D_CODES; i++) {
    const f = distFreq[i]!;
    if (f !== 0) total += f * (dist[i]! + DIST_EXTRA[i]!);
  }
  return total;
}

/** Run-length codes the code lengths of a dynamic block (RFC 1951 §3.2.7); returns the count. */
function runLengths(count: number): number {
  let n = 0;
  blFreq.fill(0);
  for (let i = 0; i < count;) {
    const length = allLengths[i]!;
    let run = 1;
    while (i + run < count && allLengths[i + run] === length) run++;
    if (length === 0 && run >= 3) {
      const take = Math.min(run, 138);
      rleSymbols[n] = take >= 11 ? 18 : 17;
      rleExtra[n++] = take >= 11 ? take - 11 : take - 3;
      blFreq[take >= 11 ? 18 : 17]!++;
      i += take;
    } else if (length !== 0 && run >= 4) {
      rleSymbols[n] = length;
      rleExtra[n++] = 0;
      blFreq[length]!++;
      const take = Math.min(run - 1, 6);
      rleSymbols[n] = 16;
      rleExtra[n++] = take - 3;
      blFreq[16]!++;
      i += take + 1;
    } else {
      rleSymbols[n] = length;
      rleExtra[n++] = 0;
      blFreq[length]!++;
      i++;
    }
  }
  return n;
}

function writeSymbols(litCode: Uint16Array, lit: Uint8Array, dCode: Uint16Array, dist: Uint8Array) {
  for (let i = 0; i < symbols; i++) {
    const length = symLength[i]!;
    const value = symValue[i]!;
    if (length === 0) {
      bits(litCode[value]!, lit[value]!);
    } else {
      const lc = LENGTH_CODE[length - MIN_MATCH]!;
      bits(litCode[257 + lc]!, lit[257 + lc]!);
      if (LENGTH_EXTRA[lc]! > 0) bits(length - LENGTH_BASE[lc]!, LENGTH_EXTRA[lc]!);
      const dc = distCode(value);
      bits(dCode[dc]!, dist[dc]!);
      if (DIST_EXTRA[dc]! > 0) bits(value - DIST_BASE[dc]!, DIST_EXTRA[dc]!);
    }
  }
  bits(litCode[END_BLOCK]!, lit[END_BLOCK]!);
}

/** Positions in a hash table after the window slid by `half`: below it, gone. */
function shiftDown(table: Uint16Array, half: number): void {
  for (let i = 0; i < table.length; i++) {
    const v = table[i]!;
    table[i] = v >= half ? v - half : 0;
  }
}

/**
 * A DEFLATE compressor for permessage-deflate; see the module's notes.
 *
 * @example
 * ```ts
 * import { Deflater } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const deflater = new Deflater({ windowBits: 12, level: 6, memLevel: 5 });
 * const text = new TextEncoder().encode('{"type":"message","text":"hello"}');
 * const first = deflater.deflate(text);
 * const second = deflater.deflate(text); // refers back to the first one
 * assert.ok(second.length < first.length / 2);
 * deflater.close();
 * ```
 */
export class Deflater implements RawDeflater {
  readonly #wsize: number;
  // Half the buffer: the window is slid by this much.
  readonly #half: number;
  readonly #window: Uint8Array;
  readonly #words: DataView;
  readonly #head: Uint16Array;
  readonly #prev: Uint16Array;
  readonly #hashShift: number;
  readonly #good: number;
  readonly #lazy: number;
  readonly #nice: number;
  readonly #chain: number;
  readonly #lazyMatching: boolean;
  #end = 0;
  #pos = 0;
  #hashed = 0;
  #emitted = 0;
  #blockStart = 0;
  // Lazy matching's state, between pieces of one message.
  #matchLength = MIN_MATCH - 1;
  #matchStart = 0;
  #matchAvailable = false;

  /**
   * Makes a compressor.
   *
   * @param options The window (8–15 bits), level (1–9) and memLevel (1–9).
   * @throws {RangeError} For a value out of range.
   */
  constructor(options: DeflaterOptions) {
    const { windowBits, level, memLevel } = options;
    if (!Number.isInteger(windowBits) || windowBits < 8 || windowBits > 15) {
      throw new RangeError(`Cannot make a Deflater: windowBits must be 8 to 15, got ${windowBits}`);
    }
    if (!Number.isInteger(level) || level < 1 || level > 9) {
      throw new RangeError(`Cannot make a Deflater: level must be 1 to 9, got ${level}`);
    }
    if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) {
      throw new RangeError(`Cannot make a Deflater: memLevel must be 1 to 9, got ${memLevel}`);
    }
    this.#wsize = 1 << windowBits;
    this.#half = Math.max(this.#wsize, 4096);
    this.#window = new Uint8Array(2 * this.#half);
    this.#words = new DataView(this.#window.buffer);
    this.#prev = new Uint16Array(this.#half);
    const hashBits = memLevel + 7;
    this.#head = new Uint16Array(1 << hashBits);
    this.#hashShift = 32 - hashBits;
    [this.#good, this.#lazy, this.#nice, this.#chain, this.#lazyMatching] = LEVELS[level - 1]!;
  }

  deflate(data: Uint8Array): Uint8Array {
    outPos = 0;
    bitBuf = 0;
    bitCount = 0;
    symbols = 0;
    litFreq.fill(0);
    distFreq.fill(0);
    this.#blockStart = this.#emitted;
    const window = this.#window;
    let offset = 0;
    do {
      let room = window.length - this.#end;
      if (room < MAX_MATCH * 2 && offset < data.length) {
        this.#slide();
        room = window.length - this.#end;
      }
      const n = Math.min(room, data.length - offset);
      window.set(data.subarray(offset, offset + n), this.#end);
      this.#end += n;
      offset += n;
      // Positions left unhashed at the end of the last piece have their three bytes now.
      while (this.#hashed < this.#pos && this.#hashed + 2 < this.#end) this.#insert(this.#hashed);
      // Short of the end, a match's lookahead waits for the next piece.
      this.#compress(offset === data.length ? this.#end : this.#end - MAX_MATCH);
    } while (offset < data.length);
    if (this.#matchAvailable) {
      this.#literal(window[this.#pos - 1]!);
      this.#matchAvailable = false;
    }
    this.#matchLength = MIN_MATCH - 1;
    this.#flushBlock();
    // The sync flush: an empty stored block, whose 00 00 ff ff §7.2.1 takes off.
    ensure(2);
    bits(0, 3);
    align();
    return out.slice(0, outPos);
  }

  reset(): void {
    this.#head.fill(0);
    this.#end = 0;
    this.#pos = 0;
    this.#hashed = 0;
    this.#emitted = 0;
    this.#blockStart = 0;
    this.#matchLength = MIN_MATCH - 1;
    this.#matchAvailable = false;
  }

  close(): void {
    this.reset();
  }

  /** Hashes the three bytes at `pos` into the chains; returns the previous head. */
  #insert(pos: number): number {
    const w = this.#window;
    const h = Math.imul((w[pos]! << 16) | (w[pos + 1]! << 8) | w[pos + 2]!, 0x9e3779b1) >>>
      this.#hashShift;
    const head = this.#head;
    const previous = head[h]!;
    this.#prev[pos & (this.#half - 1)] = previous;
    head[h] = pos;
    this.#hashed = pos + 1;
    return previous;
  }

  /** The longest match for `pos` among the chain from `candidate`, longer than `best`. */
  #longest(pos: number, candidate: number, best: number): number {
    const w = this.#window;
    const prev = this.#prev;
    const mask = this.#half - 1;
    const limit = pos > this.#wsize ? pos - this.#wsize : 0;
    const maxLength = Math.min(MAX_MATCH, this.#end - pos);
    if (maxLength < MIN_MATCH || best >= maxLength) return 0;
    const nice = Math.min(this.#nice, maxLength);
    let chain = best >= this.#good ? this.#chain >> 2 : this.#chain;
    let bestStart = 0;
    const first = w[pos]!;
    const second = w[pos + 1]!;
    while (candidate > limit && chain-- > 0) {
      // The bytes at the best length so far first: most candidates fail there.
      if (
        w[candidate + best] === w[pos + best] && w[candidate + best - 1] === w[pos + best - 1] &&
        w[candidate] === first && w[candidate + 1] === second
      ) {
        let length = 2;
        // Four bytes at a time while they agree, then byte by byte.
        const words = this.#words;
        while (
          length + 4 <= maxLength &&
          words.getUint32(candidate + length) === words.getUint32(pos + length)
        ) length += 4;
        while (length < maxLength && w[candidate + length] === w[pos + length]) length++;
        if (length > best) {
          best = length;
          bestStart = candidate;
          if (length >= nice) break;
        }
      }
      candidate = prev[candidate & mask]!;
    }
    this.#matchStart = bestStart;
    return bestStart === 0 ? 0 : best;
  }

  /** Turns the positions up to `stop` into symbols. */
  #compress(stop: number): void {
    const w = this.#window;
    const end = this.#end;
    let pos = this.#pos;
    if (!this.#lazyMatching) {
      while (pos < stop) {
        const candidate = pos + 2 < end ? this.#insert(pos) : 0;
        const length = candidate !== 0 ? this.#longest(pos, candidate, MIN_MATCH - 1) : 0;
        if (length >= MIN_MATCH && !(length === MIN_MATCH && pos - this.#matchStart > TOO_FAR)) {
          this.#match(length, pos - this.#matchStart);
          for (let k = pos + 1; k < pos + length; k++) if (k + 2 < end) this.#insert(k);
          pos += length;
        } else {
          this.#literal(w[pos]!);
          pos++;
        }
      }
      this.#pos = pos;
      return;
    }
    let matchLength = this.#matchLength;
    let matchStart = this.#matchStart;
    let available = this.#matchAvailable;
    while (pos < stop) {
      const candidate = pos + 2 < end ? this.#insert(pos) : 0;
      const prevLength = matchLength;
      const prevStart = matchStart;
      matchLength = MIN_MATCH - 1;
      if (candidate !== 0 && prevLength < this.#lazy) {
        const length = this.#longest(pos, candidate, prevLength);
        if (length > prevLength) {
          matchLength = length;
          matchStart = this.#matchStart;
          if (length === MIN_MATCH && pos - matchStart > TOO_FAR) matchLength = MIN_MATCH - 1;
        }
      }
      if (prevLength >= MIN_MATCH && matchLength <= prevLength) {
        // The match at the previous position is at least as good: take it.
        this.#match(prevLength, pos - 1 - prevStart);
        const next = pos - 1 + prevLength;
        for (let k = pos + 1; k < next; k++) if (k + 2 < end) this.#insert(k);
        pos = next;
        available = false;
        matchLength = MIN_MATCH - 1;
      } else if (available) {
        this.#literal(w[pos - 1]!);
        pos++;
      } else {
        available = true;
        pos++;
      }
    }
    this.#pos = pos;
    this.#matchLength = matchLength;
    this.#matchStart = matchStart;
    this.#matchAvailable = available;
  }

  #literal(byte: number): void {
    symLength[symbols] = 0;
    symValue[symbols++] = byte;
    litFreq[byte]!++;
    this.#emitted++;
    if (symbols === SYMBOLS) this.#flushBlock();
  }

  #match(length: number, distance: number): void {
    symLength[symbols] = length;
    symValue[symbols++] = distance;
    litFreq[257 + LENGTH_CODE[length - MIN_MATCH]!]!++;
    distFreq[distCode(distance)]!++;
    this.#emitted += length;
    if (symbols === SYMBOLS) this.#flushBlock();
  }

  /** Writes the symbols gathered as one block: stored, fixed or dynamic, the smallest. */
  #flushBlock(): void {
    const raw = this.#emitted - this.#blockStart;
    if (symbols === 0) {
      this.#blockStart = this.#emitted;
      return;
    }
    litFreq[END_BLOCK] = 1;
    const fixedBits = 3 + dataBits(FIXED_LIT_LENGTHS, FIXED_DIST_LENGTHS);
    // A block whose bytes the window slid past cannot be stored.
    const storedBits = this.#blockStart < 0
      ? Infinity
      : raw * 8 + Math.ceil(raw / 65535) * (3 + 7 + 32);
    // A dynamic block's code tables take 70 bits or more: for a few symbols
    // (most messages, with context takeover) fixed or stored codes win.
    const dynamicBits = symbols < DYNAMIC_FROM ? Infinity : this.#planDynamic();
    ensure(Math.ceil(Math.min(dynamicBits, fixedBits, storedBits) / 8) + 16);
    if (storedBits <= fixedBits && storedBits <= dynamicBits) {
      this.#writeStored();
    } else if (fixedBits <= dynamicBits) {
      bits(2, 3);
      writeSymbols(FIXED_LIT_CODES, FIXED_LIT_LENGTHS, FIXED_DIST_CODES, FIXED_DIST_LENGTHS);
    } else {
      this.#writeDynamic();
    }
    symbols = 0;
    litFreq.fill(0);
    distFreq.fill(0);
    this.#blockStart = this.#emitted;
  }

  /** Works out a dynamic block's codes; returns its size in bits. */
  #planDynamic(): number {
    lengthsOf(litFreq, L_CODES, MAX_BITS, litLengths);
    lengthsOf(distFreq, D_CODES, MAX_BITS, distLengths);
    let hlit = L_CODES;
    while (hlit > 257 && litLengths[hlit - 1] === 0) hlit--;
    let hdist = D_CODES;
    while (hdist > 1 && distLengths[hdist - 1] === 0) hdist--;
    allLengths.set(litLengths.subarray(0, hlit));
    allLengths.set(distLengths.subarray(0, hdist), hlit);
    const runs = runLengths(hlit + hdist);
    lengthsOf(blFreq, BL_CODES, MAX_BL_BITS, blLengths);
    let hclen = BL_CODES;
    while (hclen > 4 && blLengths[BL_ORDER[hclen - 1]!] === 0) hclen--;
    let headerBits = 14 + 3 * hclen;
    for (let i = 0; i < runs; i++) {
      const symbol = rleSymbols[i]!;
      headerBits += blLengths[symbol]! +
        (symbol === 16 ? 2 : symbol === 17 ? 3 : symbol === 18 ? 7 : 0);
    }
    plan.hlit = hlit;
    plan.hdist = hdist;
    plan.hclen = hclen;
    plan.runs = runs;
    return 3 + headerBits + dataBits(litLengths, distLengths);
  }

  #writeStored(): void {
    {
      const w = this.#window;
      let at = this.#blockStart;
      do {
        const length = Math.min(65535, this.#emitted - at);
        bits(0, 3);
        align();
        out[outPos++] = length & 0xff;
        out[outPos++] = length >> 8;
        out[outPos++] = ~length & 0xff;
        out[outPos++] = (~length >> 8) & 0xff;
        out.set(w.subarray(at, at + length), outPos);
        outPos += length;
        at += length;
      } while (at < this.#emitted);
    }
  }

  #writeDynamic(): void {
    const { hlit, hdist, hclen, runs } = plan;
    {
      bits(4, 3);
      bits(hlit - 257, 5);
      bits(hdist - 1, 5);
      bits(hclen - 4, 4);
      for (let i = 0; i < hclen; i++) bits(blLengths[BL_ORDER[i]!]!, 3);
      codesOf(blLengths, blCodes);
      for (let i = 0; i < runs; i++) {
        const symbol = rleSymbols[i]!;
        bits(blCodes[symbol]!, blLengths[symbol]!);
        if (symbol === 16) bits(rleExtra[i]!, 2);
        else if (symbol === 17) bits(rleExtra[i]!, 3);
        else if (symbol === 18) bits(rleExtra[i]!, 7);
      }
      litCodes.fill(0);
      distCodes.fill(0);
      codesOf(litLengths, litCodes);
      codesOf(distLengths, distCodes);
      writeSymbols(litCodes, litLengths, distCodes, distLengths);
    }
  }

  /**
   * Moves the upper half of the buffer down, and every position with it.
   * The block being gathered goes on (its symbols are kept), but can no
   * longer be written as stored bytes.
   */
  #slide(): void {
    const half = this.#half;
    this.#window.copyWithin(0, half, this.#end);
    this.#end -= half;
    this.#pos -= half;
    this.#hashed = Math.max(0, this.#hashed - half);
    this.#emitted -= half;
    this.#blockStart = this.#blockStart >= half ? this.#blockStart - half : -1;
    if (this.#matchStart >= half) {
      this.#matchStart -= half;
    } else {
      // A pending match into what slid out is given up: the position goes as a literal.
      this.#matchStart = 0;
      this.#matchLength = MIN_MATCH - 1;
    }
    shiftDown(this.#head, half);
    shiftDown(this.#prev, half);
  }
}
