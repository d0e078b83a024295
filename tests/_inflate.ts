// Copyright 2026 the Duplex authors. MIT license.
// A small, slow DEFLATE reader (RFC 1951) for tests: it decodes a raw
// DEFLATE stream and reports how far back its matches reach, which zlib
// cannot be asked. Stored, fixed-Huffman and dynamic-Huffman blocks.

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
const DISTANCE_BASE = [
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
const DISTANCE_EXTRA = [
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
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code, decoded bit by bit: code length → (code → symbol). */
type Code = Map<number, Map<number, number>>;

function huffman(lengths: number[]): Code {
  const count = new Array(16).fill(0);
  for (const length of lengths) if (length > 0) count[length]++;
  const next = new Array(16).fill(0);
  for (let bits = 1, code = 0; bits < 16; bits++) {
    code = (code + count[bits - 1]) << 1;
    next[bits] = code;
  }
  const table: Code = new Map();
  lengths.forEach((length, symbol) => {
    if (length === 0) return;
    let codes = table.get(length);
    if (codes === undefined) table.set(length, codes = new Map());
    codes.set(next[length]++, symbol);
  });
  return table;
}

const FIXED_LITERALS = huffman([
  ...new Array(144).fill(8),
  ...new Array(112).fill(9),
  ...new Array(24).fill(7),
  ...new Array(8).fill(8),
]);
const FIXED_DISTANCES = huffman(new Array(30).fill(5));

class Bits {
  #at = 0;
  constructor(readonly data: Uint8Array) {}
  get done(): boolean {
    return this.#at >= this.data.length * 8;
  }
  bit(): number {
    if (this.done) throw new RangeError("end of data");
    const value = (this.data[this.#at >> 3]! >> (this.#at & 7)) & 1;
    this.#at++;
    return value;
  }
  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value |= this.bit() << i;
    return value;
  }
  align(): void {
    this.#at = (this.#at + 7) & ~7;
  }
  symbol(code: Code): number {
    let value = 0;
    for (let length = 1; length < 16; length++) {
      value = (value << 1) | this.bit();
      const symbol = code.get(length)?.get(value);
      if (symbol !== undefined) return symbol;
    }
    throw new Error("invalid Huffman code");
  }
}

/**
 * Decodes a raw DEFLATE stream to its end (or to the end of `data`, for a
 * stream flushed and not finished).
 *
 * @returns The bytes, and the longest distance any match refers back.
 */
export function inspectDeflate(data: Uint8Array): { output: Uint8Array; maxDistance: number } {
  const bits = new Bits(data);
  const out: number[] = [];
  let maxDistance = 0;
  try {
    while (!bits.done) {
      const final = bits.bit();
      const type = bits.bits(2);
      if (type === 0) {
        bits.align();
        const length = bits.bits(16);
        bits.bits(16); // its complement
        for (let i = 0; i < length; i++) out.push(bits.bits(8));
      } else {
        let literals = FIXED_LITERALS;
        let distances = FIXED_DISTANCES;
        if (type === 2) {
          const hlit = bits.bits(5) + 257;
          const hdist = bits.bits(5) + 1;
          const hclen = bits.bits(4) + 4;
          const lengthLengths = new Array(19).fill(0);
          for (let i = 0; i < hclen; i++) lengthLengths[CODE_LENGTH_ORDER[i]!] = bits.bits(3);
          const lengthCode = huffman(lengthLengths);
          const lengths: number[] = [];
          while (lengths.length < hlit + hdist) {
            const symbol = bits.symbol(lengthCode);
            if (symbol < 16) lengths.push(symbol);
            else if (symbol === 16) {
              const previous = lengths.at(-1)!;
              for (let n = 3 + bits.bits(2); n > 0; n--) lengths.push(previous);
            } else {
              for (let n = symbol === 17 ? 3 + bits.bits(3) : 11 + bits.bits(7); n > 0; n--) {
                lengths.push(0);
              }
            }
          }
          literals = huffman(lengths.slice(0, hlit));
          distances = huffman(lengths.slice(hlit));
        } else if (type !== 1) {
          throw new Error("invalid block type");
        }
        while (true) {
          const symbol = bits.symbol(literals);
          if (symbol < 256) out.push(symbol);
          else if (symbol === 256) break;
          else {
            const index = symbol - 257;
            const length = LENGTH_BASE[index]! + bits.bits(LENGTH_EXTRA[index]!);
            const code = bits.symbol(distances);
            const distance = DISTANCE_BASE[code]! + bits.bits(DISTANCE_EXTRA[code]!);
            if (distance > out.length) throw new Error("distance too far back");
            maxDistance = Math.max(maxDistance, distance);
            for (let i = 0; i < length; i++) out.push(out[out.length - distance]!);
          }
        }
      }
      if (final) break;
    }
  } catch (error) {
    // A flushed stream ends mid-header: what came before is complete.
    if (!(error instanceof RangeError)) throw error;
  }
  return { output: new Uint8Array(out), maxDistance };
}
