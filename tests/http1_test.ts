// Copyright 2026 the Duplex authors. MIT license.
// Tests for codec/http1.ts: the bounded HTTP/1.1 head reader, parsers and
// writers, body framing (RFC 7230 §3.3.3) and the body decoder. Every fixture
// is also fed split at every offset.

import assert from "node:assert/strict";
import { assertHandshakeError } from "./_util.ts";
import {
  BodyDecoder,
  type BodyDecoderOptions,
  type BodyFraming,
  bodyFraming,
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADER_COUNT,
  HandshakeError,
  type HttpHeadLimits,
  HttpHeadReader,
  type HttpHeadReaderOptions,
  parseRequestHead,
  parseResponseHead,
  serializeRequestHead,
  serializeResponseHead,
} from "../codec/mod.ts";

/** Encodes text whose characters are all below U+0100 as Latin-1 bytes. */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    if (code > 0xff) throw new Error("test fixture is not Latin-1");
    return code;
  });
}

/** Decodes bytes as Latin-1, one character per byte. */
function text(data: Uint8Array): string {
  return Array.from(data, (b) => String.fromCharCode(b)).join("");
}

/** A small seeded PRNG (mulberry32), so random chunkings are reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `data` at the given offsets. */
function cut(data: Uint8Array, offsets: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const offset of [...offsets, data.length]) {
    pieces.push(data.slice(start, offset));
    start = offset;
  }
  return pieces;
}

/** Feeds pieces to a fresh reader; returns a copy of the head and the rest. */
function readHead(
  pieces: Uint8Array[],
  limits: HttpHeadLimits = {},
): { head: string; rest: string } | undefined {
  const reader = new HttpHeadReader(limits);
  for (const piece of pieces) {
    const head = reader.push(piece);
    if (head !== undefined) return { head: text(head), rest: text(reader.rest) };
  }
  return undefined;
}

const REQUEST = "GET /chat?room=1 HTTP/1.1\r\n" +
  "Host: server.example.com\r\n" +
  "Upgrade: websocket\r\n" +
  "Connection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n" +
  "\r\n";

// ---------------------------------------------------------------------------
// HttpHeadReader

Deno.test("HttpHeadReader returns the same head and rest fed one byte at a time, at every split, and at once", () => {
  const data = bytes(REQUEST + "\x81\x05hello");
  const expected = { head: REQUEST, rest: "\x81\x05hello" };
  assert.deepEqual(readHead([data]), expected);
  for (let offset = 0; offset <= REQUEST.length - 1; offset++) {
    assert.deepEqual(readHead(cut(data, [offset])), expected, `split at ${offset}`);
  }
  // One byte at a time: the head completes on its last byte, with nothing after it yet.
  const oneByOne = Array.from(bytes(REQUEST), (b) => new Uint8Array([b]));
  assert.deepEqual(readHead(oneByOne), { head: REQUEST, rest: "" });
});

Deno.test("HttpHeadReader keeps the bytes after the head in rest, when the head ends mid-chunk", () => {
  const data = bytes(REQUEST + "tail");
  for (let offset = REQUEST.length; offset <= data.length; offset++) {
    // The head is complete in the first piece; rest holds what that piece had after it.
    assert.deepEqual(readHead(cut(data, [offset])), {
      head: REQUEST,
      rest: text(data.subarray(REQUEST.length, offset)),
    });
  }
});

Deno.test("HttpHeadReader returns undefined until the head is complete and counts bytes in size", () => {
  const reader = new HttpHeadReader();
  assert.equal(reader.size, 0);
  assert.deepEqual(reader.rest, new Uint8Array(0));
  assert.equal(reader.push(bytes("GET / HTTP/1.1\r\n")), undefined);
  assert.equal(reader.size, 16);
  assert.equal(reader.push(bytes("Host: a\r\n")), undefined);
  assert.equal(reader.push(bytes("\r")), undefined);
  assert.equal(reader.size, 26);
  const head = reader.push(bytes("\n"));
  assert.equal(text(head!), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(reader.rest.length, 0);
});

Deno.test("HttpHeadReader returns a head that arrives whole in place, and copies the rest", () => {
  const chunk = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nnext");
  const reader = new HttpHeadReader();
  const head = reader.push(chunk)!;
  assert.equal(head.buffer, chunk.buffer);
  assert.equal(text(head), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(reader.size, chunk.length);
  chunk.fill(0x21);
  assert.equal(text(reader.rest), "next");
});

Deno.test("HttpHeadReader copies its input", () => {
  const chunk = bytes("GET / HTTP/1.1\r\nHost: a\r\n");
  const reader = new HttpHeadReader();
  reader.push(chunk);
  chunk.fill(0x21);
  assert.equal(text(reader.push(bytes("\r\n"))!), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
});

Deno.test("HttpHeadReader accepts a head of exactly maxHeadSize bytes, however it is split", () => {
  const head = bytes(REQUEST);
  const limits = { maxHeadSize: head.length };
  assert.deepEqual(readHead([head], limits), { head: REQUEST, rest: "" });
  for (let offset = 0; offset < head.length; offset++) {
    assert.deepEqual(readHead(cut(head, [offset]), limits), { head: REQUEST, rest: "" });
  }
});

Deno.test("HttpHeadReader answers 431 as soon as the head grows past maxHeadSize", () => {
  const head = bytes(REQUEST);
  const maxHeadSize = 40;
  const reader = new HttpHeadReader({ maxHeadSize });
  for (let i = 0; i < maxHeadSize; i++) {
    assert.equal(reader.push(head.subarray(i, i + 1)), undefined);
  }
  assertHandshakeError(
    () => reader.push(head.subarray(maxHeadSize, maxHeadSize + 1)),
    431,
    "HEAD_TOO_LARGE",
  );
});

Deno.test("HttpHeadReader answers 431 when the terminator arrives past maxHeadSize", () => {
  const head = bytes(REQUEST);
  const limits = { maxHeadSize: head.length - 1 };
  assertHandshakeError(() => new HttpHeadReader(limits).push(head), 431, "HEAD_TOO_LARGE");
  // All but the terminator fit; the last piece ends the head one byte past the limit.
  const reader = new HttpHeadReader(limits);
  assert.equal(reader.push(head.subarray(0, head.length - 4)), undefined);
  assertHandshakeError(() => reader.push(head.subarray(head.length - 4)), 431, "HEAD_TOO_LARGE");
});

Deno.test("HttpHeadReader answers 414 when the first line exceeds maxStartLineLength", () => {
  const line = "GET /0123456789 HTTP/1.1"; // 24 bytes
  const head = bytes(`${line}\r\nHost: a\r\n\r\n`);
  const limits = { maxStartLineLength: line.length - 1 };
  assertHandshakeError(() => new HttpHeadReader(limits).push(head), 414, "START_LINE_TOO_LONG");
  // Without its CRLF yet, the line is refused once it has one byte too many.
  const reader = new HttpHeadReader(limits);
  for (let i = 0; i < line.length - 1; i++) {
    assert.equal(reader.push(head.subarray(i, i + 1)), undefined);
  }
  assertHandshakeError(
    () => reader.push(head.subarray(line.length - 1, line.length)),
    414,
    "START_LINE_TOO_LONG",
  );
});

Deno.test("HttpHeadReader answers 414, not 431, for a first line that also passes maxHeadSize, however it is split", () => {
  // The default limits: an 8 KiB head and an 8 KiB first line. A line one
  // byte over both is a 414 at whatever split it arrives.
  const line = bytes(`GET /${"a".repeat(8192)} HTTP/1.1\r\nHost: a\r\n\r\n`);
  for (const splits of [[], [8192], [8193], [1, 8190], [4096, 8191, 8192]]) {
    assertHandshakeError(
      () => {
        const reader = new HttpHeadReader();
        for (const piece of cut(line, splits)) reader.push(piece);
      },
      414,
      "START_LINE_TOO_LONG",
    );
  }
});

Deno.test("HttpHeadReader accepts a first line of exactly maxStartLineLength bytes, however it is split", () => {
  const line = "GET /0123456789 HTTP/1.1";
  const head = `${line}\r\nHost: a\r\n\r\n`;
  const data = bytes(head);
  const limits = { maxStartLineLength: line.length };
  assert.deepEqual(readHead([data], limits), { head, rest: "" });
  // The split between the line's CR and its LF is the one that matters.
  for (let offset = 0; offset < data.length; offset++) {
    assert.deepEqual(
      readHead(cut(data, [offset]), limits),
      { head, rest: "" },
      `split at ${offset}`,
    );
  }
});

Deno.test("HttpHeadReader answers 400 on a bare LF", () => {
  const heads = [
    "\n",
    "GET / HTTP/1.1\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n\n",
  ];
  for (const head of heads) {
    assertHandshakeError(() => new HttpHeadReader().push(bytes(head)), 400, "BARE_LF");
    const reader = new HttpHeadReader();
    assertHandshakeError(
      () => {
        for (const b of bytes(head)) reader.push(new Uint8Array([b]));
      },
      400,
      "BARE_LF",
    );
  }
});

Deno.test("HttpHeadReader defaults to an 8 KiB head", () => {
  assert.equal(DEFAULT_MAX_HEAD_SIZE, 8192);
  const prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  const fill = (size: number) => `${prefix}${"p".repeat(size - prefix.length - 4)}\r\n\r\n`;
  const exact = fill(8192);
  assert.equal(exact.length, 8192);
  assert.deepEqual(readHead([bytes(exact)]), { head: exact, rest: "" });
  assertHandshakeError(() => new HttpHeadReader().push(bytes(fill(8193))), 431, "HEAD_TOO_LARGE");
});

// ---------------------------------------------------------------------------
// parseRequestHead

Deno.test("parseRequestHead reads the method, target, version and headers", () => {
  const head = parseRequestHead(bytes(REQUEST));
  assert.equal(head.method, "GET");
  assert.equal(head.target, "/chat?room=1");
  assert.equal(head.version, "HTTP/1.1");
  assert.deepEqual([...head.headers], [
    ["connection", "Upgrade"],
    ["host", "server.example.com"],
    ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
    ["sec-websocket-version", "13"],
    ["upgrade", "websocket"],
  ]);
});

Deno.test("parseRequestHead reads any token method and an absolute or asterisk target", () => {
  const options = parseRequestHead(bytes("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"));
  assert.equal(options.method, "OPTIONS");
  assert.equal(options.target, "*");
  const proxy = parseRequestHead(bytes("GET http://a/x?y=%20 HTTP/1.1\r\nHost: a\r\n\r\n"));
  assert.equal(proxy.target, "http://a/x?y=%20");
});

Deno.test("parseRequestHead trims optional whitespace around header values", () => {
  const head = parseRequestHead(
    bytes("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t spaced  out \t \r\nX-Empty:\r\nX-Blank:  \r\n\r\n"),
  );
  assert.equal(head.headers.get("host"), "a");
  assert.equal(head.headers.get("x-a"), "spaced  out");
  assert.equal(head.headers.get("x-empty"), "");
  assert.equal(head.headers.get("x-blank"), "");
});

Deno.test("parseRequestHead joins repeated headers with a comma", () => {
  const head = parseRequestHead(
    bytes(
      "GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: chat\r\n" +
        "sec-websocket-protocol: superchat\r\nCookie: a=1\r\n\r\n",
    ),
  );
  assert.equal(head.headers.get("sec-websocket-protocol"), "chat, superchat");
  assert.equal(head.headers.get("cookie"), "a=1");
});

Deno.test("parseRequestHead reads header values as Latin-1", () => {
  const head = parseRequestHead(bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\xff\r\n\r\n"));
  assert.equal(head.headers.get("x-name"), "caf\xe9\xff");
});

Deno.test("parseRequestHead accepts HTTP/1.0 without Host", () => {
  const head = parseRequestHead(bytes("GET / HTTP/1.0\r\n\r\n"));
  assert.equal(head.version, "HTTP/1.0");
  assert.deepEqual([...head.headers], []);
});

Deno.test("parseRequestHead answers 400 for whitespace before a header's colon", () => {
  // RFC 7230 §3.2.4: "No whitespace is allowed between the header field-name and colon".
  for (const field of ["Host : a", "Host\t: a", "X-A : 1"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / HTTP/1.0\r\n${field}\r\n\r\n`)),
      400,
      "INVALID_HEADER",
    );
  }
});

Deno.test("parseRequestHead answers 400 for obs-fold", () => {
  // RFC 7230 §3.2.4: a server MUST reject obs-fold (or replace it; we reject).
  for (const fold of [" folded", "\tfolded"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n${fold}\r\n\r\n`)),
      400,
      "OBSOLETE_LINE_FOLDING",
    );
  }
});

Deno.test("parseRequestHead answers 400 for control characters in a header value", () => {
  for (const value of ["a\0b", "a\x01", "\x1fb", "a\x7fb", "a\rb", "a\x0bb"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / HTTP/1.1\r\nHost: a\r\nX-A: ${value}\r\n\r\n`)),
      400,
      "INVALID_HEADER_VALUE",
    );
  }
});

Deno.test("parseRequestHead answers 400 for a header line without a token name and a colon", () => {
  for (const field of ["no colon", ": empty name", "X(A): 1", "X\xe9: 1"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / HTTP/1.1\r\nHost: a\r\n${field}\r\n\r\n`)),
      400,
      "INVALID_HEADER",
    );
  }
});

Deno.test("parseRequestHead answers 400 for an HTTP/1.1 request without Host", () => {
  // RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code to any
  // HTTP/1.1 request message that lacks a Host header field".
  assertHandshakeError(
    () => parseRequestHead(bytes("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")),
    400,
    "INVALID_HOST",
  );
});

Deno.test("parseRequestHead answers 400 for two Host headers", () => {
  // RFC 7230 §5.4: "... and to any request message that contains more than one Host header field".
  for (const version of ["HTTP/1.1", "HTTP/1.0"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / ${version}\r\nHost: a\r\nhost: b\r\n\r\n`)),
      400,
      "INVALID_HOST",
    );
  }
  assertHandshakeError(
    () => parseRequestHead(bytes("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")),
    400,
    "INVALID_HOST",
  );
});

Deno.test("parseRequestHead answers 400 for both Content-Length and Transfer-Encoding", () => {
  assertHandshakeError(
    () =>
      parseRequestHead(
        bytes(
          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        ),
      ),
    400,
    "AMBIGUOUS_LENGTH",
  );
});

Deno.test("parseRequestHead answers 400 for a malformed request line", () => {
  const lines = [
    "GET  / HTTP/1.1", // double space
    "GET / ", // missing version
    "GET /", // missing version
    "GET / HTTP/1.1 ", // trailing space
    " GET / HTTP/1.1", // leading space
    "GET / http/1.1", // lowercase protocol
    "GET / HTTP/11",
    "GET HTTP/1.1",
    "G(T / HTTP/1.1", // method not a token
    "GET /a b HTTP/1.1", // space in target
    "GET /\xe9 HTTP/1.1", // non-ASCII target
    "GET\t/\tHTTP/1.1",
    "",
  ];
  for (const line of lines) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`${line}\r\nHost: a\r\n\r\n`)),
      400,
      "INVALID_REQUEST_LINE",
    );
  }
});

Deno.test("parseRequestHead answers 505 for HTTP/2.0", () => {
  for (const version of ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2"]) {
    assertHandshakeError(
      () => parseRequestHead(bytes(`GET / ${version}\r\nHost: a\r\n\r\n`)),
      505,
      "UNSUPPORTED_HTTP_VERSION",
    );
  }
});

Deno.test("parseRequestHead answers 431 for more than maxHeaderCount headers", () => {
  const withFields = (count: number) => {
    let head = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (let i = 1; i < count; i++) head += `X-${i}: ${i}\r\n`;
    return bytes(`${head}\r\n`);
  };
  assert.equal(parseRequestHead(withFields(3), { maxHeaderCount: 3 }).headers.get("x-2"), "2");
  assertHandshakeError(
    () => parseRequestHead(withFields(4), { maxHeaderCount: 3 }),
    431,
    "TOO_MANY_HEADERS",
  );
  assert.equal(DEFAULT_MAX_HEADER_COUNT, 100);
  assert.equal(parseRequestHead(withFields(100)).headers.get("x-99"), "99");
  assertHandshakeError(() => parseRequestHead(withFields(101)), 431, "TOO_MANY_HEADERS");
});

Deno.test("parseRequestHead and parseResponseHead answer 400 / 0 for a head without its final empty line", () => {
  for (const head of ["GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a", "", "\r\n"]) {
    assertHandshakeError(() => parseRequestHead(bytes(head)), 400, "INCOMPLETE_HEAD");
  }
  assertHandshakeError(
    () => parseResponseHead(bytes("HTTP/1.1 101 Switching Protocols\r\n")),
    0,
    "INCOMPLETE_HEAD",
  );
});

Deno.test("parseRequestHead reads the same fields from an ASCII head and from one with Latin-1 bytes", () => {
  // ASCII heads are decoded natively, others byte by byte: both give the same text.
  const ascii = parseRequestHead(bytes("GET /a HTTP/1.1\r\nHost: h\r\nX-A:\t v \t\r\n\r\n"));
  assert.deepEqual(ascii.fields, [["Host", "h"], ["X-A", "v"]]);
  const mixed = parseRequestHead(bytes("GET /a HTTP/1.1\r\nHost: h\r\nX-A:\t v\xe9 \t\r\n\r\n"));
  assert.deepEqual(mixed.fields, [["Host", "h"], ["X-A", "v\xe9"]]);
});

// ---------------------------------------------------------------------------
// parseResponseHead

Deno.test("parseResponseHead reads a status line with a reason phrase", () => {
  const head = parseResponseHead(
    bytes(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    ),
  );
  assert.equal(head.version, "HTTP/1.1");
  assert.equal(head.status, 101);
  assert.equal(head.statusText, "Switching Protocols");
  assert.deepEqual([...head.headers], [
    ["connection", "Upgrade"],
    ["sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
    ["upgrade", "websocket"],
  ]);
  const refusal = parseResponseHead(bytes("HTTP/1.0 426 Upgrade  Required \r\n\r\n"));
  assert.equal(refusal.version, "HTTP/1.0");
  assert.equal(refusal.status, 426);
  assert.equal(refusal.statusText, "Upgrade  Required ");
});

Deno.test("parseResponseHead reads a status line without a reason phrase as an empty statusText", () => {
  for (const line of ["HTTP/1.1 204", "HTTP/1.1 204 "]) {
    const head = parseResponseHead(bytes(`${line}\r\nX-A: 1\r\n\r\n`));
    assert.equal(head.status, 204);
    assert.equal(head.statusText, "");
    assert.equal(head.headers.get("x-a"), "1");
  }
});

Deno.test("parseResponseHead answers status 0 for a garbage status line", () => {
  const lines = [
    "garbage",
    "",
    "HTTP/1.1",
    "HTTP/1.1 20",
    "HTTP/1.1 2000 OK",
    "HTTP/1.1 abc OK",
    "HTTP/1.1  200 OK",
    "http/1.1 200 OK",
    "HTTP/1.1 200 OK\x00",
    "SSH-2.0-OpenSSH_9.6",
  ];
  for (const line of lines) {
    assertHandshakeError(
      () => parseResponseHead(bytes(`${line}\r\n\r\n`)),
      0,
      "INVALID_STATUS_LINE",
    );
  }
});

Deno.test("parseResponseHead keeps the response's status when a header is malformed", () => {
  const cases: [string, string][] = [
    ["Upgrade : websocket", "INVALID_HEADER"],
    ["no colon", "INVALID_HEADER"],
    ["X-A: 1\r\n folded", "OBSOLETE_LINE_FOLDING"],
    ["X-A: a\x01b", "INVALID_HEADER_VALUE"],
  ];
  for (const [field, code] of cases) {
    assertHandshakeError(
      () => parseResponseHead(bytes(`HTTP/1.1 101 Switching Protocols\r\n${field}\r\n\r\n`)),
      101,
      code,
    );
    assertHandshakeError(
      () => parseResponseHead(bytes(`HTTP/1.1 403 Forbidden\r\n${field}\r\n\r\n`)),
      403,
      code,
    );
  }
  assertHandshakeError(
    () =>
      parseResponseHead(bytes("HTTP/1.1 101 Switching Protocols\r\nA: 1\r\nB: 2\r\n\r\n"), {
        maxHeaderCount: 1,
      }),
    101,
    "TOO_MANY_HEADERS",
  );
});

// ---------------------------------------------------------------------------
// serializeRequestHead / serializeResponseHead

Deno.test("serializeRequestHead writes the exact request bytes", () => {
  const headers = new Headers([
    ["Host", "server.example.com"],
    ["Upgrade", "websocket"],
    ["X-Name", "caf\xe9"],
  ]);
  assert.deepEqual(
    serializeRequestHead("GET", "/chat?room=1", headers),
    bytes(
      "GET /chat?room=1 HTTP/1.1\r\nhost: server.example.com\r\nupgrade: websocket\r\n" +
        "x-name: caf\xe9\r\n\r\n",
    ),
  );
  assert.deepEqual(
    serializeRequestHead("OPTIONS", "*", new Headers()),
    bytes("OPTIONS * HTTP/1.1\r\n\r\n"),
  );
});

Deno.test("serializeResponseHead writes the exact response bytes", () => {
  const headers = new Headers({
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  });
  assert.deepEqual(
    serializeResponseHead(101, "Switching Protocols", headers),
    bytes(
      "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\n" +
        "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nupgrade: websocket\r\n\r\n",
    ),
  );
  assert.deepEqual(serializeResponseHead(204, "", new Headers()), bytes("HTTP/1.1 204 \r\n\r\n"));
  const cookies = new Headers([["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  assert.deepEqual(
    serializeResponseHead(200, "OK", cookies),
    bytes("HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n"),
  );
});

Deno.test("serializeResponseHead writes a field list as given, and refuses a malformed field", () => {
  const bytes = serializeResponseHead(101, "Switching Protocols", [
    ["Upgrade", "websocket"],
    ["sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
  ]);
  assert.equal(
    new TextDecoder().decode(bytes),
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
      "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
  );
  for (const field of [["x y", "1"], ["x", "a\r\nInjected: 1"]] as const) {
    assert.throws(() => serializeResponseHead(200, "OK", [field]), TypeError);
  }
});

Deno.test("serializeRequestHead refuses a bad method, a target with a space and non-Latin-1 characters with TypeError", () => {
  const headers = new Headers({ host: "a" });
  for (const method of ["", "GE T", "GET\r\n", "G(T", "G\u0100T"]) {
    assert.throws(
      () => serializeRequestHead(method, "/", headers),
      TypeError,
      JSON.stringify(method),
    );
  }
  for (const target of ["", "/a b", "/\r\nX: 1", "/caf\xe9", "/\u20ac", "/\t"]) {
    assert.throws(
      () => serializeRequestHead("GET", target, headers),
      TypeError,
      JSON.stringify(target),
    );
  }
});

Deno.test("serializeResponseHead refuses a bad status, a reason phrase with CR LF and non-Latin-1 characters with TypeError", () => {
  const headers = new Headers();
  for (const status of [0, 99, 1000, 200.5, NaN]) {
    assert.throws(() => serializeResponseHead(status, "OK", headers), TypeError, String(status));
  }
  for (const reason of ["OK\r\nX: 1", "O\nK", "O\0K", "\u20ac", "\u0100"]) {
    assert.throws(
      () => serializeResponseHead(200, reason, headers),
      TypeError,
      JSON.stringify(reason),
    );
  }
});

Deno.test("serialized heads parse back to the same message", () => {
  const headers = new Headers({ host: "a", "x-list": "1, 2", "x-name": "caf\xe9" });
  const request = parseRequestHead(serializeRequestHead("PUT", "/x?y", headers));
  assert.equal(request.method, "PUT");
  assert.equal(request.target, "/x?y");
  assert.equal(request.version, "HTTP/1.1");
  assert.deepEqual([...request.headers], [...headers]);
  const response = parseResponseHead(serializeResponseHead(403, "Forbidden", headers));
  assert.equal(response.status, 403);
  assert.equal(response.statusText, "Forbidden");
  assert.deepEqual([...response.headers], [...headers]);
});

// ---------------------------------------------------------------------------
// bodyFraming (RFC 7230 §3.3.3)

Deno.test("bodyFraming gives none for a request without Content-Length or Transfer-Encoding", () => {
  assert.deepEqual(bodyFraming(new Headers()), { kind: "none" });
  assert.deepEqual(bodyFraming(new Headers({ host: "a" })), { kind: "none" });
});

Deno.test("bodyFraming gives length for Content-Length, including agreeing repeated values", () => {
  assert.deepEqual(bodyFraming(new Headers({ "content-length": "0" })), {
    kind: "length",
    length: 0,
  });
  assert.deepEqual(bodyFraming(new Headers({ "content-length": "42" })), {
    kind: "length",
    length: 42,
  });
  assert.deepEqual(bodyFraming(new Headers({ "content-length": "5, 5,5" })), {
    kind: "length",
    length: 5,
  });
  assert.deepEqual(
    bodyFraming(new Headers({ "content-length": "7" }), { status: 200, method: "GET" }),
    { kind: "length", length: 7 },
  );
  assert.deepEqual(bodyFraming(new Headers({ "content-length": "999999999999999" })), {
    kind: "length",
    length: 999999999999999,
  });
});

Deno.test("bodyFraming gives chunked when chunked is the last transfer coding", () => {
  for (const coding of ["chunked", "Chunked", "gzip, chunked", "gzip,CHUNKED"]) {
    assert.deepEqual(bodyFraming(new Headers({ "transfer-encoding": coding })), {
      kind: "chunked",
    });
    assert.deepEqual(
      bodyFraming(new Headers({ "transfer-encoding": coding }), { status: 200, method: "GET" }),
      { kind: "chunked" },
    );
  }
});

Deno.test("bodyFraming gives close for a response without a length", () => {
  assert.deepEqual(bodyFraming(new Headers(), { status: 200, method: "GET" }), { kind: "close" });
  assert.deepEqual(bodyFraming(new Headers(), { status: 403, method: "GET" }), { kind: "close" });
});

Deno.test("bodyFraming gives none for responses to HEAD and for 1xx, 204 and 304", () => {
  const framed = new Headers({ "content-length": "10", "transfer-encoding": "chunked" });
  assert.deepEqual(bodyFraming(framed, { status: 200, method: "HEAD" }), { kind: "none" });
  for (const status of [100, 101, 199, 204, 304]) {
    assert.deepEqual(
      bodyFraming(framed, { status, method: "GET" }),
      { kind: "none" },
      String(status),
    );
    assert.deepEqual(bodyFraming(new Headers(), { status, method: "GET" }), { kind: "none" });
  }
});

Deno.test("bodyFraming answers 400 for conflicting or malformed Content-Length", () => {
  for (
    const value of ["5, 6", "5,", "", "-1", "+5", "5.0", "0x10", "1e3", "abc", "1234567890123456"]
  ) {
    assertHandshakeError(
      () => bodyFraming(new Headers({ "content-length": value })),
      400,
      "INVALID_CONTENT_LENGTH",
    );
  }
  assertHandshakeError(
    () => bodyFraming(new Headers({ "content-length": "5, 6" }), { status: 200, method: "GET" }),
    400,
    "INVALID_CONTENT_LENGTH",
  );
});

Deno.test("bodyFraming answers 400 for a request whose transfer coding is not chunked", () => {
  // RFC 7230 §3.3.3: "If a Transfer-Encoding header field is present in a request and
  // the chunked transfer coding is not the final encoding, the message body length
  // cannot be determined reliably; the server MUST respond with the 400".
  for (const coding of ["gzip", "chunked, gzip", "chunked, chunked", "identity", ""]) {
    assertHandshakeError(
      () => bodyFraming(new Headers({ "transfer-encoding": coding })),
      400,
      "INVALID_TRANSFER_ENCODING",
    );
  }
});

Deno.test("bodyFraming gives close for a response whose transfer coding is not chunked", () => {
  // RFC 7230 §3.3.3: in a response, "the message body length is determined by reading
  // the connection until it is closed by the server".
  for (const coding of ["gzip", "chunked, gzip"]) {
    assert.deepEqual(
      bodyFraming(new Headers({ "transfer-encoding": coding, "content-length": "3" }), {
        status: 200,
        method: "GET",
      }),
      { kind: "close" },
    );
  }
});

Deno.test("bodyFraming lets Transfer-Encoding override Content-Length", () => {
  // RFC 7230 §3.3.3: "If a message is received with both ... the Transfer-Encoding
  // overrides the Content-Length."
  assert.deepEqual(
    bodyFraming(new Headers({ "transfer-encoding": "chunked", "content-length": "3" }), {
      status: 200,
      method: "GET",
    }),
    { kind: "chunked" },
  );
});

// ---------------------------------------------------------------------------
// BodyDecoder

/** Feeds pieces to a fresh decoder and returns it. */
function decode(
  framing: BodyFraming,
  pieces: Uint8Array[],
  options: BodyDecoderOptions = {},
): BodyDecoder {
  const decoder = new BodyDecoder(framing, options);
  for (const piece of pieces) decoder.push(piece);
  return decoder;
}

// The body "Wikipedia in\r\n\r\nchunks.0123456789", with chunk extensions, upper- and
// lower-case sizes, a zero-padded size, trailers, and a pipelined request after it.
const CHUNKED = "4;name=value\r\nWiki\r\n" +
  '5 ; ext ;other="q"\r\npedia\r\n' +
  "E\r\n in\r\n\r\nchunks.\r\n" +
  "00a\r\n0123456789\r\n" +
  "0;last\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Trailer: 1\r\n\r\n";
const CHUNKED_BODY = "Wikipedia in\r\n\r\nchunks.0123456789";
const AFTER = "GET /next HTTP/1.1\r\n";

Deno.test("BodyDecoder reads a length body split at every offset, with the same body and rest", () => {
  const body = "hello, world";
  const data = bytes(body + AFTER);
  const framing: BodyFraming = { kind: "length", length: body.length };
  for (let offset = 0; offset <= data.length; offset++) {
    const decoder = decode(framing, cut(data, [offset]));
    assert.equal(decoder.done, true, `split at ${offset}`);
    assert.equal(text(decoder.body), body, `split at ${offset}`);
    assert.equal(text(decoder.rest), AFTER, `split at ${offset}`);
  }
});

Deno.test("BodyDecoder is not done before a length body's last byte", () => {
  const decoder = new BodyDecoder({ kind: "length", length: 5 });
  decoder.push(bytes("abcd"));
  assert.equal(decoder.done, false);
  assert.equal(text(decoder.body), "abcd");
  decoder.push(bytes("e"));
  assert.equal(decoder.done, true);
  assert.equal(text(decoder.body), "abcde");
  assert.equal(decoder.rest.length, 0);
});

Deno.test("BodyDecoder reads a chunked body with extensions and trailers split at every offset", () => {
  const data = bytes(CHUNKED + AFTER);
  for (let offset = 0; offset <= data.length; offset++) {
    const decoder = decode({ kind: "chunked" }, cut(data, [offset]));
    assert.equal(decoder.done, true, `split at ${offset}`);
    assert.equal(text(decoder.body), CHUNKED_BODY, `split at ${offset}`);
    assert.equal(text(decoder.rest), AFTER, `split at ${offset}`);
  }
});

Deno.test("BodyDecoder reads a chunked body one byte at a time and in seeded random chunkings", () => {
  const data = bytes(CHUNKED + AFTER);
  const oneByOne = decode({ kind: "chunked" }, cut(data, Array.from(data, (_, i) => i).slice(1)));
  assert.equal(text(oneByOne.body), CHUNKED_BODY);
  // One byte at a time, the body ends on its own last byte; the rest arrives after.
  assert.equal(text(oneByOne.rest), AFTER);
  const next = random(6455);
  for (let round = 0; round < 200; round++) {
    const offsets = new Set<number>();
    const count = Math.floor(next() * 8);
    for (let i = 0; i < count; i++) offsets.add(Math.floor(next() * data.length));
    const sorted = [...offsets].sort((a, b) => a - b);
    const decoder = decode({ kind: "chunked" }, cut(data, sorted));
    assert.equal(text(decoder.body), CHUNKED_BODY, `offsets ${sorted}`);
    assert.equal(text(decoder.rest), AFTER, `offsets ${sorted}`);
  }
});

Deno.test("BodyDecoder reads chunked bodies of random sizes and chunk layouts", () => {
  const next = random(7230);
  for (let round = 0; round < 100; round++) {
    const body = Uint8Array.from(
      { length: Math.floor(next() * 300) },
      () => Math.floor(next() * 256),
    );
    let encoded = "";
    for (let i = 0; i < body.length;) {
      const size = Math.min(body.length - i, 1 + Math.floor(next() * 64));
      encoded += `${size.toString(16)}\r\n${text(body.subarray(i, i + size))}\r\n`;
      i += size;
    }
    encoded += "0\r\n\r\n";
    const data = bytes(encoded);
    const offsets = [...new Set(Array.from({ length: 4 }, () => Math.floor(next() * data.length)))]
      .sort((a, b) => a - b);
    const decoder = decode({ kind: "chunked" }, cut(data, offsets));
    assert.equal(decoder.done, true);
    assert.deepEqual(decoder.body, body);
    assert.equal(decoder.rest.length, 0);
  }
});

Deno.test("BodyDecoder completes a close-delimited body on end()", () => {
  const decoder = new BodyDecoder({ kind: "close" });
  decoder.push(bytes("part one, "));
  decoder.push(bytes(""));
  decoder.push(bytes("part two"));
  assert.equal(decoder.done, false);
  decoder.end();
  assert.equal(decoder.done, true);
  assert.equal(text(decoder.body), "part one, part two");
  assert.equal(decoder.rest.length, 0);
  const empty = new BodyDecoder({ kind: "close" });
  empty.end();
  assert.equal(empty.done, true);
  assert.equal(empty.body.length, 0);
});

Deno.test("BodyDecoder answers 400 when end() comes before a length body completes", () => {
  const decoder = new BodyDecoder({ kind: "length", length: 10 });
  decoder.push(bytes("12345"));
  assertHandshakeError(() => decoder.end(), 400, "TRUNCATED_BODY");
  assertHandshakeError(
    () => new BodyDecoder({ kind: "length", length: 1 }).end(),
    400,
    "TRUNCATED_BODY",
  );
});

Deno.test("BodyDecoder answers 400 when end() comes before a chunked body completes", () => {
  const data = bytes(CHUNKED);
  for (const offset of [0, 3, 20, data.length - 2, data.length - 1]) {
    const decoder = decode({ kind: "chunked" }, [data.subarray(0, offset)]);
    assertHandshakeError(() => decoder.end(), 400, "TRUNCATED_BODY");
  }
});

Deno.test("BodyDecoder end() after a complete body changes nothing", () => {
  const decoder = decode({ kind: "length", length: 3 }, [bytes("abcdef")]);
  decoder.end();
  assert.equal(decoder.done, true);
  assert.equal(text(decoder.body), "abc");
  assert.equal(text(decoder.rest), "def");
});

Deno.test("BodyDecoder is done at once for none and for Content-Length 0, passing bytes to rest", () => {
  for (const framing of [{ kind: "none" }, { kind: "length", length: 0 }] as BodyFraming[]) {
    const decoder = new BodyDecoder(framing);
    assert.equal(decoder.done, true);
    assert.equal(decoder.body.length, 0);
    decoder.push(bytes("GET /"));
    decoder.push(bytes(" HTTP/1.1"));
    assert.equal(text(decoder.rest), "GET / HTTP/1.1");
    assert.equal(decoder.body.length, 0);
  }
});

Deno.test("BodyDecoder answers 413 for a Content-Length over maxSize before reading anything", () => {
  assertHandshakeError(
    () => new BodyDecoder({ kind: "length", length: 11 }, { maxSize: 10 }),
    413,
    "BODY_TOO_LARGE",
  );
});

Deno.test("BodyDecoder answers 413 when a chunked or close-delimited body grows past maxSize", () => {
  // CHUNKED_BODY is 33 bytes.
  const chunked = new BodyDecoder({ kind: "chunked" }, { maxSize: 32 });
  assertHandshakeError(() => chunked.push(bytes(CHUNKED)), 413, "BODY_TOO_LARGE");
  const close = new BodyDecoder({ kind: "close" }, { maxSize: 4 });
  close.push(bytes("abcd"));
  assertHandshakeError(() => close.push(bytes("e")), 413, "BODY_TOO_LARGE");
});

Deno.test("BodyDecoder accepts a body of exactly maxSize bytes", () => {
  const options = { maxSize: CHUNKED_BODY.length };
  assert.equal(text(decode({ kind: "chunked" }, [bytes(CHUNKED)], options).body), CHUNKED_BODY);
  const length = decode({ kind: "length", length: 4 }, [bytes("abcdef")], { maxSize: 4 });
  assert.equal(text(length.body), "abcd");
  const close = decode({ kind: "close" }, [bytes("ab"), bytes("cd")], { maxSize: 4 });
  close.end();
  assert.equal(text(close.body), "abcd");
});

Deno.test("BodyDecoder truncates to maxSize with overflow truncate and still finds the end", () => {
  const options: BodyDecoderOptions = { maxSize: 6, overflow: "truncate" };
  const data = bytes("0123456789" + AFTER);
  for (let offset = 0; offset <= data.length; offset++) {
    const length = decode({ kind: "length", length: 10 }, cut(data, [offset]), options);
    assert.equal(length.done, true);
    assert.equal(text(length.body), "012345", `split at ${offset}`);
    assert.equal(text(length.rest), AFTER, `split at ${offset}`);
  }
  const chunkedData = bytes(CHUNKED + AFTER);
  for (let offset = 0; offset <= chunkedData.length; offset++) {
    const chunked = decode({ kind: "chunked" }, cut(chunkedData, [offset]), options);
    assert.equal(chunked.done, true);
    assert.equal(text(chunked.body), "Wikipe", `split at ${offset}`);
    assert.equal(text(chunked.rest), AFTER, `split at ${offset}`);
  }
  const close = decode({ kind: "close" }, [bytes("0123"), bytes("4567"), bytes("89")], options);
  close.end();
  assert.equal(text(close.body), "012345");
});

Deno.test("BodyDecoder answers 400 for a malformed chunk size", () => {
  const sizes = ["g", "-1", "0x5", "", " 5", "+5", "5 x", "1234567890abc", "5\r"];
  for (const size of sizes) {
    assertHandshakeError(
      () => new BodyDecoder({ kind: "chunked" }).push(bytes(`${size}\r\nhello\r\n0\r\n\r\n`)),
      400,
      "INVALID_CHUNK",
    );
  }
});

Deno.test("BodyDecoder answers 400 for a chunk line longer than 4 KiB", () => {
  const decoder = new BodyDecoder({ kind: "chunked" });
  assertHandshakeError(
    () => decoder.push(bytes(`5;${"x".repeat(5000)}\r\nhello\r\n0\r\n\r\n`)),
    400,
    "INVALID_CHUNK",
  );
});

Deno.test("BodyDecoder answers 400 when chunk data is longer than its size", () => {
  assertHandshakeError(
    () => new BodyDecoder({ kind: "chunked" }).push(bytes("3\r\nabcd\r\n0\r\n\r\n")),
    400,
    "INVALID_CHUNK",
  );
});

Deno.test("BodyDecoder answers 400 for a bare LF in chunked coding", () => {
  for (const data of ["3\nabc\r\n0\r\n\r\n", "3\r\nabc\n0\r\n\r\n", "3\r\nabc\r\n0\n\r\n"]) {
    assertHandshakeError(
      () => new BodyDecoder({ kind: "chunked" }).push(bytes(data)),
      400,
      "BARE_LF",
    );
  }
});

/** What a reader makes of `data` pushed in `pieces`: the head's length, "more", or status and code. */
function outcome(pieces: Uint8Array[], options: HttpHeadReaderOptions): string {
  const reader = new HttpHeadReader(options);
  try {
    for (const piece of pieces) {
      const head = reader.push(piece);
      if (head !== undefined) return `head ${head.length}`;
    }
    return "more";
  } catch (error) {
    assert.ok(error instanceof HandshakeError, `expected a HandshakeError, got ${error}`);
    return `${error.status} ${error.code}`;
  }
}

Deno.test("HttpHeadReader refuses bytes that cannot start a request at the first one, with 400", () => {
  // A TLS ClientHello's record header, and other binary, with no line end in sight.
  const cases: [Uint8Array, string][] = [
    [new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]), "0x16"],
    [bytes("GET /\x00"), "0x00"],
    [bytes(" GET / HTTP/1.1"), "0x20"],
    [new Uint8Array([0x47, 0x45, 0x54, 0x20, 0x2f, 0xc3, 0xa9]), "0xc3"],
    [bytes("GET /\tx HTTP/1.1"), "0x09"],
    [bytes("GET /\rx HTTP/1.1"), "0x0d"],
    [bytes("GET /\x7f"), "0x7f"],
  ];
  for (const [data, byte] of cases) {
    const error = assertHandshakeError(
      () => new HttpHeadReader({ message: "request" }).push(data),
      400,
      "INVALID_REQUEST_LINE",
    );
    assert.match(error.message, new RegExp(`is ${byte}, which cannot be HTTP`));
  }
  // Without a message kind, the reader waits for a line end, as before.
  assert.equal(new HttpHeadReader().push(cases[0]![0]), undefined);
  // A well-formed request still reads.
  const head = bytes("GET /chat?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(new HttpHeadReader({ message: "request" }).push(head)?.length, head.length);
});

Deno.test("HttpHeadReader refuses a response that does not start with HTTP/, with status 0", () => {
  assertHandshakeError(
    () => new HttpHeadReader({ message: "response" }).push(bytes("SSH-2.0-OpenSSH")),
    0,
    "INVALID_STATUS_LINE",
  );
  // A reason phrase may hold tabs and obs-text.
  const head = new Uint8Array([...bytes("HTTP/1.1 200 O\tK"), 0xe9, ...bytes("\r\n\r\n")]);
  assert.equal(new HttpHeadReader({ message: "response" }).push(head)?.length, head.length);
  // Reading a response, a limit or a bare LF leaves the status unknown: 0.
  assertHandshakeError(
    () =>
      new HttpHeadReader({ message: "response", maxHeadSize: 40 }).push(
        bytes(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n`),
      ),
    0,
    "HEAD_TOO_LARGE",
  );
  assertHandshakeError(
    () => new HttpHeadReader({ message: "response" }).push(bytes("HTTP/1.1 101 OK\nX: y\r\n\r\n")),
    0,
    "BARE_LF",
  );
});

Deno.test("HttpHeadReader decides 400, 414 and 431 at one byte, however TCP split the bytes", () => {
  const long = "GET /" + "a".repeat(60) + " HTTP/1.1";
  const cases: [string, HttpHeadReaderOptions][] = [
    // A bare LF past the start line's limit: 414, the limit comes first.
    [`${long}\nHost: a\r\n\r\n`, { maxStartLineLength: 20 }],
    // A bare LF before it: 400.
    ["GET / HTTP/1.1\nHost: a\r\n\r\n", { maxStartLineLength: 20 }],
    // A bare LF past the head's limit: 431.
    [`GET / HTTP/1.1\r\nHost: a\r\nX: ${"b".repeat(40)}\n\r\n`, { maxHeadSize: 40 }],
    // A bare LF before the head's limit: 400.
    [`GET / HTTP/1.1\r\nX:\nHost: a\r\n${"c".repeat(60)}\r\n\r\n`, { maxHeadSize: 40 }],
    // Both limits: the one reached first.
    [`${long}\r\nHost: a\r\n\r\n`, { maxStartLineLength: 30, maxHeadSize: 20 }],
    [`${long}\r\nHost: a\r\n\r\n`, { maxStartLineLength: 10, maxHeadSize: 20 }],
    // A head that ends exactly at the limit, and one that ends a byte past it.
    ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", { maxHeadSize: 27 }],
    ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", { maxHeadSize: 26 }],
    // Garbage after a valid start of line.
    ["GET /a\x01b HTTP/1.1\r\n\r\n", {}],
  ];
  const next = random(7);
  for (const [head, limits] of cases) {
    for (const message of [undefined, "request"] as const) {
      const options = message === undefined ? limits : { ...limits, message };
      const data = bytes(head);
      const whole = outcome([data], options);
      const byByte = outcome([...data].map((byte) => new Uint8Array([byte])), options);
      assert.equal(byByte, whole, `${JSON.stringify(head)} byte by byte`);
      for (let trial = 0; trial < 50; trial++) {
        const offsets = [0, 0, 0].map(() => Math.floor(next() * data.length)).sort((a, b) => a - b);
        assert.equal(
          outcome(cut(data, offsets), options),
          whole,
          `${JSON.stringify(head)} cut at ${offsets}`,
        );
      }
    }
  }
  const expect = (head: string, limits: HttpHeadReaderOptions) => outcome([bytes(head)], limits);
  assert.equal(
    expect(`${long}\nHost: a\r\n\r\n`, { maxStartLineLength: 20 }),
    "414 START_LINE_TOO_LONG",
  );
  assert.equal(expect("GET / HTTP/1.1\nHost: a\r\n\r\n", {}), "400 BARE_LF");
  assert.equal(
    expect(`GET / HTTP/1.1\r\nHost: a\r\nX: ${"b".repeat(40)}\n\r\n`, { maxHeadSize: 40 }),
    "431 HEAD_TOO_LARGE",
  );
  assert.equal(
    expect(`${long}\r\n\r\n`, { maxStartLineLength: 30, maxHeadSize: 20 }),
    "431 HEAD_TOO_LARGE",
  );
  assert.equal(
    expect(`${long}\r\n\r\n`, { maxStartLineLength: 10, maxHeadSize: 20 }),
    "414 START_LINE_TOO_LONG",
  );
  assert.equal(expect("GET / HTTP/1.1\r\nHost: a\r\n\r\n", { maxHeadSize: 27 }), "head 27");
  assert.equal(
    expect("GET / HTTP/1.1\r\nHost: a\r\n\r\n", { maxHeadSize: 26 }),
    "431 HEAD_TOO_LARGE",
  );
  assert.equal(
    expect("GET /a\x01b HTTP/1.1\r\n\r\n", { message: "request" }),
    "400 INVALID_REQUEST_LINE",
  );
});

Deno.test("HttpHeadReader refuses limits that are not positive whole numbers, and an unknown message kind", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => new HttpHeadReader({ maxHeadSize: bad }), RangeError);
    assert.throws(() => new HttpHeadReader({ maxStartLineLength: bad }), RangeError);
  }
  assert.throws(
    () => new HttpHeadReader({ message: "bogus" as "request" }),
    (error) =>
      error instanceof TypeError &&
      error.message ===
        'Cannot create head reader: message must be "request" or "response", got "bogus"',
  );
});

Deno.test("BodyDecoder keeps a body sent in 1-byte chunks in one buffer, at most twice its size", () => {
  const size = 100_000;
  const encoder = new TextEncoder();
  const chunk = encoder.encode("1\r\nx\r\n");
  const decoder = new BodyDecoder({ kind: "chunked" }, { maxSize: 1024 * 1024 });
  for (let i = 0; i < size; i++) decoder.push(chunk);
  decoder.push(encoder.encode("0\r\n\r\n"));
  assert.equal(decoder.done, true);
  const body = decoder.body;
  assert.equal(body.length, size);
  assert.ok(body.buffer.byteLength <= 2 * size, `a ${body.buffer.byteLength}-byte buffer`);
  assert.ok(body.every((byte) => byte === 0x78));
  // A declared length is never overshot.
  const fixed = new BodyDecoder({ kind: "length", length: 3000 }, { maxSize: 1024 * 1024 });
  for (let i = 0; i < 3000; i++) fixed.push(new Uint8Array([i & 0xff]));
  assert.equal(fixed.body.length, 3000);
  assert.equal(fixed.body.buffer.byteLength, 3000);
  assert.equal(fixed.body[2999], 2999 & 0xff);
});
