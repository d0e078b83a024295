// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import {
  decodeUtf8,
  encodeUtf8,
  isValidUtf8,
  ProtocolError,
  utf8Length,
  Utf8StreamDecoder,
} from "../codec/mod.ts";
import { encodeUtf8Into } from "../codec/utf8.ts";

const reference = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function hex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function ascii(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 0x20 + (i % 95);
  return out;
}

function asciiText(length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(0x20 + (i % 95));
  return text;
}

function isInvalidUtf8(e: unknown): boolean {
  return e instanceof ProtocolError && e.closeCode === 1007 && e.code === "INVALID_UTF8";
}

/**
 * A byte-wise UTF-8 validator after Unicode Table 3-7 (RFC 3629 §4): the
 * index of the first byte that no valid UTF-8 text can have there (-1 if
 * none), and whether the bytes end on a character boundary.
 */
function referenceValidate(input: Uint8Array): { firstInvalid: number; complete: boolean } {
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (need === 0) {
      if (b <= 0x7f) continue;
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b === 0xe0) [need, lower] = [2, 0xa0];
      else if (b === 0xed) [need, upper] = [2, 0x9f];
      else if (b >= 0xe1 && b <= 0xef) need = 2;
      else if (b === 0xf0) [need, lower] = [3, 0x90];
      else if (b === 0xf4) [need, upper] = [3, 0x8f];
      else if (b >= 0xf1 && b <= 0xf3) need = 3;
      else return { firstInvalid: i, complete: false };
    } else {
      if (b < lower || b > upper) return { firstInvalid: i, complete: false };
      lower = 0x80;
      upper = 0xbf;
      need--;
    }
  }
  return { firstInvalid: -1, complete: need === 0 };
}

// "kosme" (Greek κόσμε) as used throughout Autobahn group 6.
const KOSME = hex("cebae1bdb9cf83cebcceb5");
// Its text: the "ό" is U+1F79 (GREEK SMALL LETTER OMICRON WITH OXIA, 3 bytes).
const KOSME_TEXT = "\u03ba\u1f79\u03c3\u03bc\u03b5";

// Autobahn|Testsuite cases 6.5.1–6.23.7: single-frame payloads, and whether
// each is valid UTF-8 (valid → echo, invalid → fail with 1007).
const AUTOBAHN_6: [caseId: string, valid: boolean, payload: string][] = [
  ["6.5.1", true, "68656c6c6f24776f726c64"],
  ["6.5.2", true, "68656c6c6fc2a2776f726c64"],
  ["6.5.3", true, "68656c6c6fe282ac776f726c64"],
  ["6.5.4", true, "68656c6c6ff0a4ada2776f726c64"],
  ["6.5.5", true, "cebae1bdb9cf83cebcceb5"],
  ["6.6.1", false, "ce"],
  ["6.6.2", true, "ceba"],
  ["6.6.3", false, "cebae1"],
  ["6.6.4", false, "cebae1bd"],
  ["6.6.5", true, "cebae1bdb9"],
  ["6.6.6", false, "cebae1bdb9cf"],
  ["6.6.7", true, "cebae1bdb9cf83"],
  ["6.6.8", false, "cebae1bdb9cf83ce"],
  ["6.6.9", true, "cebae1bdb9cf83cebc"],
  ["6.6.10", false, "cebae1bdb9cf83cebcce"],
  ["6.6.11", true, "cebae1bdb9cf83cebcceb5"],
  ["6.7.1", true, "00"],
  ["6.7.2", true, "c280"],
  ["6.7.3", true, "e0a080"],
  ["6.7.4", true, "f0908080"],
  ["6.8.1", false, "f888808080"],
  ["6.8.2", false, "fc8480808080"],
  ["6.9.1", true, "7f"],
  ["6.9.2", true, "dfbf"],
  ["6.9.3", true, "efbfbf"],
  ["6.9.4", true, "f48fbfbf"],
  ["6.10.1", false, "f7bfbfbf"],
  ["6.10.2", false, "fbbfbfbfbf"],
  ["6.10.3", false, "fdbfbfbfbfbf"],
  ["6.11.1", true, "ed9fbf"],
  ["6.11.2", true, "ee8080"],
  ["6.11.3", true, "efbfbd"],
  ["6.11.4", true, "f48fbfbf"],
  ["6.11.5", false, "f4908080"],
  ["6.12.1", false, "80"],
  ["6.12.2", false, "bf"],
  ["6.12.3", false, "80bf"],
  ["6.12.4", false, "80bf80"],
  ["6.12.5", false, "80bf80bf"],
  ["6.12.6", false, "80bf80bf80"],
  ["6.12.7", false, "80bf80bf80bf"],
  [
    "6.12.8",
    false,
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbe",
  ],
  [
    "6.13.1",
    false,
    "c020c120c220c320c420c520c620c720c820c920ca20cb20cc20cd20ce20cf20d020d120d220d320d420d520d620d720d820d920da20db20dc20dd20de20",
  ],
  ["6.13.2", false, "e020e120e220e320e420e520e620e720e820e920ea20eb20ec20ed20ee20"],
  ["6.13.3", false, "f020f120f220f320f420f520f620"],
  ["6.13.4", false, "f820f920fa20"],
  ["6.13.5", false, "fc20"],
  ["6.14.1", false, "c0"],
  ["6.14.2", false, "e080"],
  ["6.14.3", false, "f08080"],
  ["6.14.4", false, "f8808080"],
  ["6.14.5", false, "fc80808080"],
  ["6.14.6", false, "df"],
  ["6.14.7", false, "efbf"],
  ["6.14.8", false, "f7bfbf"],
  ["6.14.9", false, "fbbfbfbf"],
  ["6.14.10", false, "fdbfbfbfbf"],
  ["6.15.1", false, "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf"],
  ["6.16.1", false, "fe"],
  ["6.16.2", false, "ff"],
  ["6.16.3", false, "fefeffff"],
  ["6.17.1", false, "c0af"],
  ["6.17.2", false, "e080af"],
  ["6.17.3", false, "f08080af"],
  ["6.17.4", false, "f8808080af"],
  ["6.17.5", false, "fc80808080af"],
  ["6.18.1", false, "c1bf"],
  ["6.18.2", false, "e09fbf"],
  ["6.18.3", false, "f08fbfbf"],
  ["6.18.4", false, "f887bfbfbf"],
  ["6.18.5", false, "fc83bfbfbfbf"],
  ["6.19.1", false, "c080"],
  ["6.19.2", false, "e08080"],
  ["6.19.3", false, "f0808080"],
  ["6.19.4", false, "f880808080"],
  ["6.19.5", false, "fc8080808080"],
  ["6.20.1", false, "eda080"],
  ["6.20.2", false, "edadbf"],
  ["6.20.3", false, "edae80"],
  ["6.20.4", false, "edafbf"],
  ["6.20.5", false, "edb080"],
  ["6.20.6", false, "edbe80"],
  ["6.20.7", false, "edbfbf"],
  ["6.21.1", false, "eda080edb080"],
  ["6.21.2", false, "eda080edbfbf"],
  ["6.21.3", false, "edadbfedb080"],
  ["6.21.4", false, "edadbfedbfbf"],
  ["6.21.5", false, "edae80edb080"],
  ["6.21.6", false, "edae80edbfbf"],
  ["6.21.7", false, "edafbfedb080"],
  ["6.21.8", false, "edafbfedbfbf"],
  ["6.22.1", true, "efbfbe"],
  ["6.22.2", true, "efbfbf"],
  ["6.22.3", true, "f09fbfbe"],
  ["6.22.4", true, "f09fbfbf"],
  ["6.22.5", true, "f0afbfbe"],
  ["6.22.6", true, "f0afbfbf"],
  ["6.22.7", true, "f0bfbfbe"],
  ["6.22.8", true, "f0bfbfbf"],
  ["6.22.9", true, "f18fbfbe"],
  ["6.22.10", true, "f18fbfbf"],
  ["6.22.11", true, "f19fbfbe"],
  ["6.22.12", true, "f19fbfbf"],
  ["6.22.13", true, "f1afbfbe"],
  ["6.22.14", true, "f1afbfbf"],
  ["6.22.15", true, "f1bfbfbe"],
  ["6.22.16", true, "f1bfbfbf"],
  ["6.22.17", true, "f28fbfbe"],
  ["6.22.18", true, "f28fbfbf"],
  ["6.22.19", true, "f29fbfbe"],
  ["6.22.20", true, "f29fbfbf"],
  ["6.22.21", true, "f2afbfbe"],
  ["6.22.22", true, "f2afbfbf"],
  ["6.22.23", true, "f2bfbfbe"],
  ["6.22.24", true, "f2bfbfbf"],
  ["6.22.25", true, "f38fbfbe"],
  ["6.22.26", true, "f38fbfbf"],
  ["6.22.27", true, "f39fbfbe"],
  ["6.22.28", true, "f39fbfbf"],
  ["6.22.29", true, "f3afbfbe"],
  ["6.22.30", true, "f3afbfbf"],
  ["6.22.31", true, "f3bfbfbe"],
  ["6.22.32", true, "f3bfbfbf"],
  ["6.22.33", true, "f48fbfbe"],
  ["6.22.34", true, "f48fbfbf"],
  ["6.23.1", true, "efbfb9"],
  ["6.23.2", true, "efbfba"],
  ["6.23.3", true, "efbfbb"],
  ["6.23.4", true, "efbfbc"],
  ["6.23.5", true, "efbfbd"],
  ["6.23.6", true, "efbfbe"],
  ["6.23.7", true, "efbfbf"],
];

// Invalid sequences by kind, for the named tests below.
const OVERLONG = ["c080", "c1bf", "c0af", "e08080", "e080af", "e09fbf", "f0808080", "f08fbfbf"];
const SURROGATES = ["eda080", "edbfbf", "edb080", "edafbf", "eda080edb080"];
const ABOVE_MAX = ["f4908080", "f4bfbfbf", "f5808080", "f7bfbfbf", "f888808080", "fc8480808080"];
const BAD_LEAD = ["f5", "f6", "f7", "f8", "f9", "fa", "fb", "fc", "fd", "fe", "ff"];
const LONE_CONTINUATION = ["80", "bf", "80bf", "6180", "c3a980", "e282ac80"];
const TRUNCATED = ["ce", "cebae1", "cebae1bd", "e282", "f09f98", "f09f", "f0", "61f4"];
const INVALID_BY_KIND: Record<string, string[]> = {
  "overlong encodings": OVERLONG,
  "surrogates": SURROGATES,
  "code points above U+10FFFF": ABOVE_MAX,
  "lead bytes F5 to FF": BAD_LEAD,
  "lone continuation bytes": LONE_CONTINUATION,
  "sequences truncated at the end": TRUNCATED,
};

Deno.test("the Autobahn 6.x table holds the 132 single-frame cases and agrees with the reference validator", () => {
  assert.equal(AUTOBAHN_6.length, 132);
  assert.equal(AUTOBAHN_6.filter(([, valid]) => valid).length, 63);
  for (const [caseId, valid, payload] of AUTOBAHN_6) {
    const result = referenceValidate(hex(payload));
    assert.equal(result.firstInvalid === -1 && result.complete, valid, caseId);
  }
});

Deno.test("decodeUtf8 decodes ASCII of every length from 0 to 200, below and above the 64-byte fast path", () => {
  for (let length = 0; length <= 200; length++) {
    assert.equal(decodeUtf8(ascii(length)), asciiText(length), `length ${length}`);
  }
});

Deno.test("decodeUtf8 decodes NUL and DEL, the ends of the ASCII range", () => {
  assert.equal(decodeUtf8(bytes(0x00, 0x7f)), "\u0000\u007f");
  assert.equal(decodeUtf8(concat(ascii(70), bytes(0x00, 0x7f))), asciiText(70) + "\u0000\u007f");
});

Deno.test("decodeUtf8 returns an empty string for an empty payload", () => {
  assert.equal(decodeUtf8(new Uint8Array(0)), "");
});

Deno.test("decodeUtf8 decodes 2-, 3- and 4-byte characters, short and long", () => {
  assert.equal(decodeUtf8(bytes(0xce, 0xba)), "κ");
  assert.equal(decodeUtf8(bytes(0xe2, 0x82, 0xac)), "€");
  assert.equal(decodeUtf8(bytes(0xf0, 0x9f, 0x98, 0x80)), "😀");
  assert.equal(decodeUtf8(KOSME), KOSME_TEXT);
  assert.equal(
    decodeUtf8(hex("48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121")),
    "Hello-µ@ßöäüàá-UTF-8!!",
  );
  // Non-ASCII at the very end of a 64-byte and of a 65-byte payload.
  assert.equal(decodeUtf8(concat(ascii(62), bytes(0xce, 0xba))), asciiText(62) + "κ");
  assert.equal(decodeUtf8(concat(ascii(63), bytes(0xce, 0xba))), asciiText(63) + "κ");
  const long = "κόσμε € 😀 𤭢 ".repeat(20);
  assert.equal(decodeUtf8(new TextEncoder().encode(long)), long);
});

Deno.test("decodeUtf8 keeps a leading byte order mark as message content", () => {
  assert.equal(decodeUtf8(bytes(0xef, 0xbb, 0xbf)), "\ufeff");
  assert.equal(decodeUtf8(bytes(0xef, 0xbb, 0xbf, 0x61)), "\ufeffa");
  assert.equal(decodeUtf8(concat(bytes(0xef, 0xbb, 0xbf), ascii(100))), "\ufeff" + asciiText(100));
  assert.equal(decodeUtf8(bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf)), "\ufeff\ufeff");
});

Deno.test("decodeUtf8 decodes only the bytes of its view, not the whole buffer", () => {
  const buffer = concat(bytes(0xff, 0xff), KOSME, bytes(0xff));
  assert.equal(decodeUtf8(buffer.subarray(2, 2 + KOSME.length)), KOSME_TEXT);
  const asciiBuffer = concat(bytes(0xff), ascii(10), bytes(0xff));
  assert.equal(decodeUtf8(asciiBuffer.subarray(1, 11)), asciiText(10));
});

for (const [kind, cases] of Object.entries(INVALID_BY_KIND)) {
  Deno.test(`decodeUtf8 rejects ${kind} with 1007 INVALID_UTF8`, () => {
    for (const payload of cases) {
      assert.throws(() => decodeUtf8(hex(payload)), isInvalidUtf8, payload);
      assert.equal(isValidUtf8(hex(payload)), false, payload);
    }
  });

  Deno.test(`decodeUtf8 rejects ${kind} placed after 64 ASCII bytes with 1007 INVALID_UTF8`, () => {
    for (const payload of cases) {
      const input = concat(ascii(64), hex(payload));
      assert.throws(() => decodeUtf8(input), isInvalidUtf8, payload);
      assert.equal(isValidUtf8(input), false, payload);
      // And right at the 64-byte boundary.
      const boundary = concat(ascii(64 - hex(payload).length), hex(payload));
      assert.equal(boundary.length, 64);
      assert.throws(() => decodeUtf8(boundary), isInvalidUtf8, payload);
    }
  });
}

Deno.test("decodeUtf8 agrees with a fatal TextDecoder on every Autobahn 6.x case, and rejects the invalid ones with 1007", () => {
  for (const [caseId, valid, payload] of AUTOBAHN_6) {
    const input = hex(payload);
    if (valid) {
      assert.equal(decodeUtf8(input), reference.decode(input), caseId);
    } else {
      assert.throws(() => decodeUtf8(input), isInvalidUtf8, caseId);
    }
  }
});

Deno.test("decodeUtf8 gives the same verdict on every Autobahn 6.x case when it follows 64 ASCII bytes", () => {
  const prefix = ascii(64);
  for (const [caseId, valid, payload] of AUTOBAHN_6) {
    const input = concat(prefix, hex(payload));
    if (valid) {
      assert.equal(decodeUtf8(input), asciiText(64) + reference.decode(hex(payload)), caseId);
    } else {
      assert.throws(() => decodeUtf8(input), isInvalidUtf8, caseId);
    }
  }
});

Deno.test("decodeUtf8 decodes the Autobahn 6.5, 6.7, 6.9 and 6.11 boundary characters to the exact code points", () => {
  assert.equal(decodeUtf8(hex("68656c6c6f24776f726c64")), "hello$world");
  assert.equal(decodeUtf8(hex("68656c6c6fc2a2776f726c64")), "hello\u00a2world");
  assert.equal(decodeUtf8(hex("68656c6c6fe282ac776f726c64")), "hello\u20acworld");
  assert.equal(decodeUtf8(hex("68656c6c6ff0a4ada2776f726c64")), "hello\u{24b62}world");
  assert.equal(decodeUtf8(hex("00")), "\u0000");
  assert.equal(decodeUtf8(hex("c280")), "\u0080");
  assert.equal(decodeUtf8(hex("e0a080")), "\u0800");
  assert.equal(decodeUtf8(hex("f0908080")), "\u{10000}");
  assert.equal(decodeUtf8(hex("7f")), "\u007f");
  assert.equal(decodeUtf8(hex("dfbf")), "\u07ff");
  assert.equal(decodeUtf8(hex("efbfbf")), "\uffff");
  assert.equal(decodeUtf8(hex("f48fbfbf")), "\u{10ffff}");
  assert.equal(decodeUtf8(hex("ed9fbf")), "\ud7ff");
  assert.equal(decodeUtf8(hex("ee8080")), "\ue000");
  assert.equal(decodeUtf8(hex("efbfbd")), "\ufffd");
});

Deno.test("isValidUtf8 agrees with the Autobahn 6.x verdict on every case", () => {
  for (const [caseId, valid, payload] of AUTOBAHN_6) {
    assert.equal(isValidUtf8(hex(payload)), valid, caseId);
    assert.equal(
      isValidUtf8(concat(ascii(64), hex(payload))),
      valid,
      `${caseId} after 64 ASCII bytes`,
    );
  }
});

Deno.test("isValidUtf8 accepts empty input, ASCII, a BOM and multi-byte text", () => {
  assert.equal(isValidUtf8(new Uint8Array(0)), true);
  assert.equal(isValidUtf8(ascii(10)), true);
  assert.equal(isValidUtf8(ascii(100)), true);
  assert.equal(isValidUtf8(bytes(0xef, 0xbb, 0xbf)), true);
  assert.equal(isValidUtf8(KOSME), true);
});

Deno.test("Utf8StreamDecoder returns the original text when it is split at every byte offset", () => {
  const text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε € 😀 𤭢 \ufeff end";
  const encoded = new TextEncoder().encode(text);
  const stream = new Utf8StreamDecoder();
  for (let i = 0; i <= encoded.length; i++) {
    const first = stream.push(encoded.subarray(0, i));
    const second = stream.push(encoded.subarray(i));
    const rest = stream.end();
    assert.equal(rest, "", `split at ${i}`);
    assert.equal(first + second, text, `split at ${i}`);
    // The first piece gives exactly the characters it completes.
    const held = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    assert.equal(first, held.decode(encoded.subarray(0, i), { stream: true }), `split at ${i}`);
  }
});

Deno.test("Utf8StreamDecoder returns the original text when it is split at every pair of byte offsets", () => {
  const text = "aκό€😀σ𤭢z";
  const encoded = new TextEncoder().encode(text);
  const stream = new Utf8StreamDecoder();
  for (let i = 0; i <= encoded.length; i++) {
    for (let j = i; j <= encoded.length; j++) {
      const out = stream.push(encoded.subarray(0, i)) + stream.push(encoded.subarray(i, j)) +
        stream.push(encoded.subarray(j)) + stream.end();
      assert.equal(out, text, `split at ${i} and ${j}`);
    }
  }
});

Deno.test("Utf8StreamDecoder decodes text fed one byte at a time, holding back incomplete characters", () => {
  const stream = new Utf8StreamDecoder();
  const outputs = [...KOSME].map((b) => stream.push(bytes(b)));
  assert.deepEqual(outputs, ["", "κ", "", "", "\u1f79", "", "σ", "", "μ", "", "ε"]);
  assert.equal(stream.end(), "");
  assert.equal(stream.push(bytes(0xf0, 0x9f)), "");
  assert.equal(stream.push(bytes(0x98)), "");
  assert.equal(stream.push(bytes(0x80, 0x61)), "😀a");
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder keeps a leading BOM in every text it decodes", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(bytes(0xef, 0xbb)), "");
  assert.equal(stream.push(bytes(0xbf, 0x61)), "\ufeffa");
  assert.equal(stream.end(), "");
  assert.equal(stream.push(bytes(0xef, 0xbb, 0xbf, 0x62)), "\ufeffb");
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder fails fast on Autobahn 6.4.1: the part bringing F4 90 80 80 throws", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(KOSME), KOSME_TEXT);
  assert.throws(() => stream.push(hex("f4908080")), isInvalidUtf8);
});

Deno.test("Utf8StreamDecoder fails fast on Autobahn 6.4.2: a dangling F4 is held, the following 90 throws", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(concat(KOSME, bytes(0xf4))), KOSME_TEXT);
  assert.throws(() => stream.push(bytes(0x90)), isInvalidUtf8);
});

Deno.test("Utf8StreamDecoder fails fast on Autobahn 6.4.3 and 6.4.4 chops of one frame", () => {
  const payload = concat(KOSME, hex("f4908080"), new TextEncoder().encode("edited"));
  assert.equal(payload.length, 21);
  // 6.4.3: kosme | f4 90 80 80 | edited
  const a = new Utf8StreamDecoder();
  assert.equal(a.push(payload.subarray(0, 11)), KOSME_TEXT);
  assert.throws(() => a.push(payload.subarray(11, 15)), isInvalidUtf8);
  // 6.4.4: kosme f4 | 90 | 80 80 edited
  const b = new Utf8StreamDecoder();
  assert.equal(b.push(payload.subarray(0, 12)), KOSME_TEXT);
  assert.throws(() => b.push(payload.subarray(12, 13)), isInvalidUtf8);
});

Deno.test("Utf8StreamDecoder fed the 6.4.x payload byte by byte throws on byte 12 (0x90), not earlier or later", () => {
  const payload = concat(KOSME, hex("f4908080"), new TextEncoder().encode("edited"));
  const stream = new Utf8StreamDecoder();
  let text = "";
  for (let i = 0; i < 12; i++) text += stream.push(payload.subarray(i, i + 1));
  assert.equal(text, KOSME_TEXT);
  assert.throws(() => stream.push(payload.subarray(12, 13)), isInvalidUtf8);
});

Deno.test("Utf8StreamDecoder fed the 6.3 payload byte by byte throws on byte 12 (0xA0 after ED)", () => {
  const payload = hex("cebae1bdb9cf83cebcceb5eda080656469746564");
  const stream = new Utf8StreamDecoder();
  let text = "";
  for (let i = 0; i < 12; i++) text += stream.push(payload.subarray(i, i + 1));
  assert.equal(text, KOSME_TEXT);
  assert.throws(() => stream.push(payload.subarray(12, 13)), isInvalidUtf8);
});

Deno.test("Utf8StreamDecoder fed any Autobahn 6.x case byte by byte throws exactly at the first invalid byte, or at end() if truncated", () => {
  for (const [caseId, valid, payload] of AUTOBAHN_6) {
    const input = hex(payload);
    const { firstInvalid, complete } = referenceValidate(input);
    const stream = new Utf8StreamDecoder();
    let thrownAt = -1;
    let text = "";
    for (let i = 0; i < input.length; i++) {
      try {
        text += stream.push(input.subarray(i, i + 1));
      } catch (e) {
        assert.ok(isInvalidUtf8(e), caseId);
        thrownAt = i;
        break;
      }
    }
    assert.equal(thrownAt, firstInvalid, caseId);
    if (firstInvalid !== -1) continue;
    if (complete) {
      text += stream.end();
      assert.ok(valid, caseId);
      assert.equal(text, reference.decode(input), caseId);
    } else {
      assert.ok(!valid, caseId);
      assert.throws(() => stream.end(), isInvalidUtf8, caseId);
    }
  }
});

Deno.test("Utf8StreamDecoder.end throws 1007 when the text stops inside a multi-byte sequence", () => {
  for (const tail of ["ce", "e282", "f09f98", "f4", "e0a0"]) {
    const stream = new Utf8StreamDecoder();
    assert.equal(stream.push(concat(bytes(0x61), hex(tail))), "a", tail);
    assert.throws(() => stream.end(), isInvalidUtf8, tail);
  }
});

Deno.test("Utf8StreamDecoder.end returns an empty string for a complete text and for no text", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.end(), "");
  assert.equal(stream.push(KOSME), KOSME_TEXT);
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder decodes a new text cleanly after end()", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(bytes(0x61, 0xce)), "a");
  assert.equal(stream.push(bytes(0xba)), "κ");
  assert.equal(stream.end(), "");
  assert.equal(stream.push(KOSME), KOSME_TEXT);
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder does not carry an incomplete sequence past a failed end() into the next text", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(bytes(0xce)), "");
  assert.throws(() => stream.end(), isInvalidUtf8);
  // 0xBA would complete "κ" if the old 0xCE were still held.
  assert.throws(() => stream.push(bytes(0xba)), isInvalidUtf8);
  stream.reset();
  assert.equal(stream.push(bytes(0x61)), "a");
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder can be reused after an error once reset() is called", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(bytes(0x61, 0xf0, 0x9f)), "a");
  assert.throws(() => stream.push(bytes(0xff)), isInvalidUtf8);
  stream.reset();
  assert.equal(stream.push(KOSME), KOSME_TEXT);
  assert.equal(stream.end(), "");
});

Deno.test("Utf8StreamDecoder.reset forgets a partial sequence", () => {
  const stream = new Utf8StreamDecoder();
  assert.equal(stream.push(bytes(0xf0, 0x9f, 0x98)), "");
  stream.reset();
  assert.equal(stream.end(), "");
  assert.equal(stream.push(bytes(0x62)), "b");
});

Deno.test("encodeUtf8 encodes ASCII below and above 32 characters", () => {
  assert.deepEqual(encodeUtf8(""), new Uint8Array(0));
  assert.deepEqual(encodeUtf8("Hello"), bytes(0x48, 0x65, 0x6c, 0x6c, 0x6f));
  for (const length of [31, 32, 33, 64, 200]) {
    assert.deepEqual(encodeUtf8(asciiText(length)), ascii(length), `length ${length}`);
  }
});

Deno.test("encodeUtf8 encodes 2-, 3- and 4-byte characters and a BOM", () => {
  assert.deepEqual(encodeUtf8(KOSME_TEXT), KOSME);
  assert.deepEqual(encodeUtf8("€"), bytes(0xe2, 0x82, 0xac));
  assert.deepEqual(encodeUtf8("😀"), bytes(0xf0, 0x9f, 0x98, 0x80));
  assert.deepEqual(encodeUtf8("\u{10ffff}"), bytes(0xf4, 0x8f, 0xbf, 0xbf));
  assert.deepEqual(encodeUtf8("\ufeffa"), bytes(0xef, 0xbb, 0xbf, 0x61));
});

Deno.test("encodeUtf8 turns a lone surrogate into EF BF BD (U+FFFD)", () => {
  assert.deepEqual(encodeUtf8("\ud800"), bytes(0xef, 0xbf, 0xbd));
  assert.deepEqual(encodeUtf8("\udc00"), bytes(0xef, 0xbf, 0xbd));
  assert.deepEqual(encodeUtf8("a\ud83d"), bytes(0x61, 0xef, 0xbf, 0xbd));
  assert.deepEqual(encodeUtf8("\ude00\ud83d"), bytes(0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd));
});

/** Runs encodeUtf8Into at `offset` in a sentinel-filled buffer with the documented room. */
function encodeAt(text: string, offset: number): { written: number; target: Uint8Array } {
  const target = new Uint8Array(offset + text.length * 3 + 4).fill(0xa5);
  const written = encodeUtf8Into(text, target, offset);
  return { written, target };
}

Deno.test("encodeUtf8Into writes ASCII of every length 0 to 100 at an offset and returns its length", () => {
  for (let length = 0; length <= 100; length++) {
    for (const offset of [0, 3]) {
      const text = asciiText(length);
      const { written, target } = encodeAt(text, offset);
      assert.equal(written, length, `length ${length}`);
      const expected = new Uint8Array(target.length).fill(0xa5);
      expected.set(ascii(length), offset);
      assert.deepEqual(target, expected, `length ${length}, offset ${offset}`);
    }
  }
});

Deno.test("encodeUtf8Into writes multi-byte text at an offset and returns the byte count", () => {
  const cases: [string, number][] = [
    ["κ", 2],
    ["€", 3],
    ["😀", 4],
    [KOSME_TEXT, 11],
    ["κ".repeat(16), 32],
    ["κ".repeat(40), 80],
    [asciiText(31) + "€", 34], // non-ASCII after the ASCII loop has started writing
    [asciiText(40) + "€", 43],
    ["€" + asciiText(40), 43],
  ];
  for (const [text, count] of cases) {
    for (const offset of [0, 5]) {
      const { written, target } = encodeAt(text, offset);
      assert.equal(written, count, text);
      const expected = new Uint8Array(target.length).fill(0xa5);
      expected.set(new TextEncoder().encode(text), offset);
      assert.deepEqual(target, expected, `${text} at ${offset}`);
    }
  }
});

Deno.test("encodeUtf8Into turns a lone surrogate into EF BF BD and counts 3 bytes", () => {
  for (const offset of [0, 2]) {
    const { written, target } = encodeAt("\ud800", offset);
    assert.equal(written, 3);
    assert.deepEqual(target.subarray(offset, offset + 3), bytes(0xef, 0xbf, 0xbd));
    assert.deepEqual(target.subarray(0, offset), new Uint8Array(offset).fill(0xa5));
    assert.deepEqual(
      target.subarray(offset + 3),
      new Uint8Array(target.length - offset - 3).fill(0xa5),
    );
  }
  const { written, target } = encodeAt("ab\udc00", 1);
  assert.equal(written, 5);
  assert.deepEqual(target.subarray(1, 6), bytes(0x61, 0x62, 0xef, 0xbf, 0xbd));
});

Deno.test("encodeUtf8Into output decodes back to the text", () => {
  for (const text of ["", "a", "κόσμε € 😀 𤭢", "x".repeat(33), "\ufeff" + "y".repeat(50)]) {
    const { written, target } = encodeAt(text, 7);
    assert.equal(decodeUtf8(target.subarray(7, 7 + written)), text);
  }
});

Deno.test("utf8Length agrees with the encoder for every kind of character, lone surrogates included", () => {
  const samples = [
    "",
    "ascii",
    "é",
    "€",
    "😀",
    "a😀é€b",
    "\ud800",
    "x\udc00y",
    "\ud83d",
    "😀".repeat(1000),
    "é".repeat(33),
  ];
  for (const text of samples) {
    assert.equal(
      utf8Length(text),
      new TextEncoder().encode(text).length,
      JSON.stringify(text.slice(0, 10)),
    );
  }
});
