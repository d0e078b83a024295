// Copyright 2026 the Duplex authors. MIT license.
import assert from "node:assert/strict";
import {
  CloseCode,
  encodeClosePayload,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  parseClosePayload,
  ProtocolError,
} from "../codec/mod.ts";

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

/** A close payload as it arrives on the wire: 2-byte big-endian code, then the reason bytes. */
function wire(code: number, reason: Uint8Array = new Uint8Array(0)): Uint8Array {
  const payload = new Uint8Array(2 + reason.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(reason, 2);
  return payload;
}

function isProtocolError(closeCode: number, code: string) {
  return (e: unknown) => e instanceof ProtocolError && e.closeCode === closeCode && e.code === code;
}

function isRangeError(e: unknown): boolean {
  return e instanceof RangeError;
}

// RFC 6455 §7.4.1 and the IANA registry; the same codes in the order given.
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
const VALID_SAMPLE = [...VALID_CODES, 3000, 3001, 3999, 4000, 4001, 4500, 4998, 4999];
const INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

// Autobahn 7.7.1–7.7.13: codes the endpoint must accept.
const AUTOBAHN_7_7 = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
// Autobahn 7.9.x (current master): codes the endpoint must reject with 1002.
const AUTOBAHN_7_9 = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

// Autobahn 6.3 / 7.5.1 reason: kosme + ED A0 80 (U+D800) + "edited".
const INVALID_REASON = new Uint8Array([
  0xce,
  0xba,
  0xe1,
  0xbd,
  0xb9,
  0xcf,
  0x83,
  0xce,
  0xbc,
  0xce,
  0xb5,
  0xed,
  0xa0,
  0x80,
  0x65,
  0x64,
  0x69,
  0x74,
  0x65,
  0x64,
]);

Deno.test("CloseCode names the codes 1000–1003 and 1005–1015 with their RFC 6455 and IANA values", () => {
  assert.deepEqual({ ...CloseCode }, {
    NormalClosure: 1000,
    GoingAway: 1001,
    ProtocolError: 1002,
    UnsupportedData: 1003,
    NoStatusReceived: 1005,
    AbnormalClosure: 1006,
    InvalidPayload: 1007,
    PolicyViolation: 1008,
    MessageTooBig: 1009,
    MandatoryExtension: 1010,
    InternalError: 1011,
    ServiceRestart: 1012,
    TryAgainLater: 1013,
    BadGateway: 1014,
    TlsHandshake: 1015,
  });
});

Deno.test("MAX_CLOSE_REASON_BYTES is 123: a 125-byte control payload minus the 2-byte code", () => {
  assert.equal(MAX_CLOSE_REASON_BYTES, 123);
});

Deno.test("isValidCloseCode accepts 1000–1003, 1007–1014 and 3000–4999", () => {
  for (const code of [...VALID_CODES, 3000, 3999, 4000, 4999]) {
    assert.equal(isValidCloseCode(code), true, String(code));
  }
});

Deno.test("isValidCloseCode rejects reserved, report-only and out-of-range codes", () => {
  for (const code of INVALID_CODES) {
    assert.equal(isValidCloseCode(code), false, String(code));
  }
  assert.equal(isValidCloseCode(-1), false);
  assert.equal(isValidCloseCode(-1000), false);
});

Deno.test("isValidCloseCode accepts every code of Autobahn 7.7.x and rejects every code of 7.9.x", () => {
  for (const code of AUTOBAHN_7_7) assert.equal(isValidCloseCode(code), true, String(code));
  for (const code of AUTOBAHN_7_9) assert.equal(isValidCloseCode(code), false, String(code));
  // Older 7.9.x revisions also list 1015 (and 1014, since registered with IANA).
  assert.equal(isValidCloseCode(1015), false);
  // 7.13.x (informational): 5000 and 65535.
  assert.equal(isValidCloseCode(5000), false);
  assert.equal(isValidCloseCode(65535), false);
});

Deno.test("isValidCloseCode is true for exactly 1000–1003, 1007–1014 and 3000–4999 among 0–65535", () => {
  const accepted: number[] = [];
  for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) accepted.push(code);
  const expected = [...VALID_CODES];
  for (let code = 3000; code <= 4999; code++) expected.push(code);
  assert.deepEqual(accepted, expected);
});

Deno.test("isValidCloseCode rejects numbers that cannot be a 2-byte code on the wire", () => {
  // The JSDoc promises "whether `code` may appear in a close frame on the
  // wire"; the wire holds an unsigned 16-bit integer (RFC 6455 §5.5.1).
  const codes = [1000.5, 3000.25, 4999.9, NaN, Infinity, -Infinity];
  assert.deepEqual(
    codes.map((code) => [code, isValidCloseCode(code)]),
    codes.map((code) => [code, false]),
  );
});

Deno.test('encodeClosePayload encodes 1000 "bye" as 03 e8 62 79 65', () => {
  assert.deepEqual(encodeClosePayload(1000, "bye"), bytes(0x03, 0xe8, 0x62, 0x79, 0x65));
});

Deno.test("encodeClosePayload encodes a code alone as its 2 big-endian bytes", () => {
  assert.deepEqual(encodeClosePayload(1000), bytes(0x03, 0xe8));
  assert.deepEqual(encodeClosePayload(1001, ""), bytes(0x03, 0xe9));
  assert.deepEqual(encodeClosePayload(1014), bytes(0x03, 0xf6));
  assert.deepEqual(encodeClosePayload(3000), bytes(0x0b, 0xb8));
  assert.deepEqual(encodeClosePayload(4999), bytes(0x13, 0x87));
});

Deno.test("encodeClosePayload with no code gives an empty payload", () => {
  assert.deepEqual(encodeClosePayload(), new Uint8Array(0));
  assert.deepEqual(encodeClosePayload(undefined), new Uint8Array(0));
  assert.deepEqual(encodeClosePayload(undefined, ""), new Uint8Array(0));
});

Deno.test("encodeClosePayload encodes a multi-byte reason as UTF-8", () => {
  assert.deepEqual(encodeClosePayload(3000, "κ€"), bytes(0x0b, 0xb8, 0xce, 0xba, 0xe2, 0x82, 0xac));
  assert.deepEqual(encodeClosePayload(1000, "😀"), bytes(0x03, 0xe8, 0xf0, 0x9f, 0x98, 0x80));
});

Deno.test("encodeClosePayload encodes a lone surrogate in the reason as EF BF BD", () => {
  assert.deepEqual(encodeClosePayload(1000, "\ud800"), bytes(0x03, 0xe8, 0xef, 0xbf, 0xbd));
});

Deno.test("encodeClosePayload throws a RangeError for codes not valid on the wire", () => {
  for (const code of [1005, 1006, 999, 5000, 1.5, 1004, 1015, 0, -1, 65535, 1000.5, NaN]) {
    assert.throws(
      () => encodeClosePayload(code),
      (e) => e instanceof RangeError && e.message.includes("is not a valid close code"),
      String(code),
    );
    assert.throws(() => encodeClosePayload(code, "reason"), isRangeError, String(code));
  }
});

Deno.test("encodeClosePayload throws a RangeError for a reason without a code", () => {
  assert.throws(
    () => encodeClosePayload(undefined, "bye"),
    (e) => e instanceof RangeError && e.message.includes("a reason needs a close code"),
  );
});

Deno.test("encodeClosePayload accepts a reason of exactly 123 bytes", () => {
  const payload = encodeClosePayload(1000, "*".repeat(123));
  assert.equal(payload.length, 125);
  const expected = new Uint8Array(125).fill(0x2a);
  expected[0] = 0x03;
  expected[1] = 0xe8;
  assert.deepEqual(payload, expected);
});

Deno.test("encodeClosePayload throws a RangeError for a 124-byte reason", () => {
  assert.throws(
    () => encodeClosePayload(1000, "*".repeat(124)),
    (e) => e instanceof RangeError && e.message.includes("124 bytes"),
  );
});

Deno.test("encodeClosePayload counts the reason in UTF-8 bytes: 41 × € (123 bytes) fits, 42 × € does not", () => {
  const payload = encodeClosePayload(1000, "€".repeat(41));
  assert.equal(payload.length, 125);
  assert.deepEqual(payload.subarray(0, 5), bytes(0x03, 0xe8, 0xe2, 0x82, 0xac));
  assert.deepEqual(payload.subarray(122), bytes(0xe2, 0x82, 0xac));
  assert.throws(() => encodeClosePayload(1000, "€".repeat(42)), isRangeError);
  // 62 characters but 124 bytes.
  assert.throws(() => encodeClosePayload(1000, "é".repeat(62)), isRangeError);
  // 121 ASCII bytes + a 3-byte character = 124 bytes.
  assert.throws(() => encodeClosePayload(1000, "a".repeat(121) + "€"), isRangeError);
  assert.equal(encodeClosePayload(1000, "a".repeat(120) + "€").length, 125);
});

Deno.test("parseClosePayload reports an empty payload as 1005 with no reason", () => {
  assert.deepEqual(parseClosePayload(new Uint8Array(0)), { code: 1005, reason: "" });
});

Deno.test("parseClosePayload rejects a 1-byte payload with 1002 INVALID_CLOSE_PAYLOAD", () => {
  for (const byte of [0x03, 0x61, 0x00, 0xff]) {
    assert.throws(
      () => parseClosePayload(bytes(byte)),
      isProtocolError(1002, "INVALID_CLOSE_PAYLOAD"),
      String(byte),
    );
  }
});

Deno.test("parseClosePayload rejects code 1005 on the wire with 1002", () => {
  assert.throws(
    () => parseClosePayload(bytes(0x03, 0xed)),
    isProtocolError(1002, "INVALID_CLOSE_CODE"),
  );
});

Deno.test("parseClosePayload rejects every code not valid on the wire with 1002 INVALID_CLOSE_CODE", () => {
  for (const code of [...INVALID_CODES, ...AUTOBAHN_7_9]) {
    assert.throws(
      () => parseClosePayload(wire(code)),
      isProtocolError(1002, "INVALID_CLOSE_CODE"),
      String(code),
    );
    // A valid reason does not make an invalid code acceptable.
    assert.throws(
      () => parseClosePayload(wire(code, new TextEncoder().encode("reason"))),
      isProtocolError(1002, "INVALID_CLOSE_CODE"),
      String(code),
    );
  }
});

Deno.test("parseClosePayload accepts every code of Autobahn 7.7.x with no reason", () => {
  for (const code of AUTOBAHN_7_7) {
    assert.deepEqual(parseClosePayload(wire(code)), { code, reason: "" }, String(code));
  }
});

Deno.test("parseClosePayload rejects an invalid UTF-8 reason (Autobahn 7.5.1) with 1007 INVALID_UTF8", () => {
  const payload = wire(1000, INVALID_REASON);
  assert.equal(payload.length, 22);
  assert.throws(() => parseClosePayload(payload), isProtocolError(1007, "INVALID_UTF8"));
});

Deno.test("parseClosePayload rejects reasons with truncated, overlong or out-of-range UTF-8 with 1007", () => {
  for (
    const reason of [[0xce], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xff], [
      0x61,
      0xe2,
      0x82,
    ]]
  ) {
    assert.throws(
      () => parseClosePayload(wire(1000, new Uint8Array(reason))),
      isProtocolError(1007, "INVALID_UTF8"),
      reason.join(" "),
    );
  }
});

Deno.test("parseClosePayload decodes a valid reason", () => {
  assert.deepEqual(parseClosePayload(bytes(0x03, 0xe8, 0x62, 0x79, 0x65)), {
    code: 1000,
    reason: "bye",
  });
  assert.deepEqual(parseClosePayload(wire(1000, new TextEncoder().encode("Hello World!"))), {
    code: 1000,
    reason: "Hello World!",
  });
  assert.deepEqual(parseClosePayload(wire(4000, bytes(0xce, 0xba, 0xf0, 0x9f, 0x98, 0x80))), {
    code: 4000,
    reason: "κ😀",
  });
  // Autobahn 7.3.5: the longest legal payload, 1000 + 123 × "*".
  assert.deepEqual(parseClosePayload(wire(1000, new Uint8Array(123).fill(0x2a))), {
    code: 1000,
    reason: "*".repeat(123),
  });
});

Deno.test("parseClosePayload keeps a leading BOM in the reason", () => {
  assert.deepEqual(parseClosePayload(wire(1000, bytes(0xef, 0xbb, 0xbf, 0x61))), {
    code: 1000,
    reason: "\ufeffa",
  });
});

Deno.test("parseClosePayload reads only the bytes of its view", () => {
  const buffer = bytes(0xff, 0x0b, 0xb8, 0x6f, 0x6b, 0xff);
  assert.deepEqual(parseClosePayload(buffer.subarray(1, 5)), { code: 3000, reason: "ok" });
  assert.deepEqual(parseClosePayload(buffer.subarray(1, 3)), { code: 3000, reason: "" });
});

Deno.test("parseClosePayload reads back what encodeClosePayload wrote, for every sampled code and reason", () => {
  const reasons = [
    "",
    "bye",
    "\u03ba\u1f79\u03c3\u03bc\u03b5",
    "😀",
    "\ufeffbom",
    "*".repeat(123),
    "€".repeat(41),
  ];
  for (const code of VALID_SAMPLE) {
    for (const reason of reasons) {
      assert.deepEqual(
        parseClosePayload(encodeClosePayload(code, reason)),
        { code, reason },
        `${code} ${JSON.stringify(reason)}`,
      );
    }
  }
  assert.deepEqual(parseClosePayload(encodeClosePayload()), { code: 1005, reason: "" });
});

Deno.test("parseClosePayload reads a lone surrogate reason back as U+FFFD", () => {
  assert.deepEqual(parseClosePayload(encodeClosePayload(1000, "a\udc00")), {
    code: 1000,
    reason: "a\ufffd",
  });
});
