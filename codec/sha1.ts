// Copyright 2026 the Duplex authors. MIT license.
/**
 * SHA-1 (FIPS 180-4 §6.1), synchronous, for the opening handshake's
 * `Sec-WebSocket-Accept` value. Web Crypto's `digest()` is asynchronous and
 * was the largest single cost of a server handshake (14% of its CPU in a
 * handshake storm); a 60-byte input is two blocks here, about a microsecond.
 * SHA-1 is used only as RFC 6455 §4.2.2 prescribes, not for security.
 *
 * This module is browser-compatible.
 *
 * @module
 */

const W = new Uint32Array(80);
// Messages of up to two blocks (a handshake's 60 bytes) are padded here, not in a new buffer.
const SCRATCH = new Uint8Array(128);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/**
 * Computes the SHA-1 digest of `data`.
 *
 * @param data The message.
 * @returns The 20-byte digest.
 */
export function sha1(data: Uint8Array): Uint8Array {
  const length = data.length;
  // Padding (§5.1.1): a 1 bit, zeros, then the 64-bit length in bits.
  const blocks = Math.ceil((length + 9) / 64);
  const size = blocks * 64;
  let view: DataView;
  if (size <= SCRATCH.length) {
    SCRATCH.fill(0, length, size);
    SCRATCH.set(data);
    SCRATCH[length] = 0x80;
    view = SCRATCH_VIEW;
  } else {
    const message = new Uint8Array(size);
    message.set(data);
    message[length] = 0x80;
    view = new DataView(message.buffer);
  }
  const bits = length * 8;
  view.setUint32(size - 8, Math.floor(bits / 0x100000000));
  view.setUint32(size - 4, bits >>> 0);

  let h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
  for (let block = 0; block < blocks; block++) {
    const offset = block * 64;
    for (let t = 0; t < 16; t++) W[t] = view.getUint32(offset + t * 4);
    for (let t = 16; t < 80; t++) W[t] = rotl(W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!, 1);
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number, k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const temp = (rotl(a, 5) + f + e + k + W[t]!) >>> 0;
      e = d;
      d = c;
      c = rotl(b, 30) >>> 0;
      b = a;
      a = temp;
    }
    h0 = (h0 + a) >>> 0;
    h1 = (h1 + b) >>> 0;
    h2 = (h2 + c) >>> 0;
    h3 = (h3 + d) >>> 0;
    h4 = (h4 + e) >>> 0;
  }
  const digest = new Uint8Array(20);
  const out = new DataView(digest.buffer);
  out.setUint32(0, h0);
  out.setUint32(4, h1);
  out.setUint32(8, h2);
  out.setUint32(12, h3);
  out.setUint32(16, h4);
  return digest;
}
