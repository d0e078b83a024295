// Copyright 2026 the Duplex authors. MIT license.
// Tests for codec/handshake.ts: keys, header grammar, URLs, and the opening
// handshake (RFC 6455 §4) built and validated on both sides.

import assert from "node:assert/strict";
import { assertHandshakeError } from "./_util.ts";
import {
  acceptKey,
  buildUpgradeRequest,
  buildUpgradeResponse,
  type Extension,
  formatExtensions,
  formatProtocols,
  generateKey,
  HttpHeadReader,
  isHeaderValue,
  isToken,
  parseExtensions,
  parseProtocols,
  parseRequestHead,
  parseResponseHead,
  parseUrl,
  serializeRequestHead,
  serializeResponseHead,
  type UpgradeOffer,
  type UpgradeRequest,
  validateUpgradeRequest,
  validateUpgradeResponse,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
} from "../codec/mod.ts";

// RFC 6455 §1.3: the example key and the accept value it yields.
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** Decodes base64 to bytes. */
function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

// ---------------------------------------------------------------------------
// Keys

Deno.test("WEBSOCKET_GUID and WEBSOCKET_VERSION hold the RFC 6455 values", () => {
  assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  assert.equal(WEBSOCKET_VERSION, "13");
});

Deno.test("acceptKey turns the RFC 6455 §1.3 example key into s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", async () => {
  assert.equal(await acceptKey(KEY), ACCEPT);
});

Deno.test("acceptKey matches a SHA-1 computed independently (openssl) for another key", async () => {
  // printf 'x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-…' | openssl sha1 -binary | base64
  assert.equal(await acceptKey("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
});

Deno.test("generateKey returns 24 base64 characters that decode to 16 bytes", () => {
  for (let i = 0; i < 32; i++) {
    const key = generateKey();
    assert.equal(key.length, 24);
    assert.match(key, /^[A-Za-z0-9+/]{22}==$/);
    assert.equal(fromBase64(key).length, 16);
  }
});

Deno.test("generateKey returns a different key on each call", () => {
  const keys = new Set<string>();
  for (let i = 0; i < 100; i++) keys.add(generateKey());
  assert.equal(keys.size, 100);
});

// ---------------------------------------------------------------------------
// Header grammar

Deno.test("isToken accepts every RFC 7230 tchar", () => {
  assert.equal(isToken("!#$%&'*+-.^_`|~"), true);
  assert.equal(isToken("0123456789"), true);
  assert.equal(isToken("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), true);
  assert.equal(isToken("permessage-deflate"), true);
  assert.equal(isToken("x"), true);
});

Deno.test("isToken rejects the empty string, separators, whitespace, controls and non-ASCII", () => {
  const refused = [
    "",
    " ",
    "a b",
    "a\tb",
    "a\r",
    "a\n",
    "a\0",
    "a\x7f",
    "é",
    "\u20ac",
    ...'"(),/:;<=>?@[\\]{}'.split("").map((c) => `a${c}b`),
  ];
  for (const value of refused) assert.equal(isToken(value), false, JSON.stringify(value));
});

Deno.test("isHeaderValue accepts the empty string, tab, space, visible ASCII and obs-text", () => {
  const accepted = ["", "\t", " ", "a\tb", "Bearer abc", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", "é"];
  for (const value of accepted) assert.equal(isHeaderValue(value), true, JSON.stringify(value));
  assert.equal(isHeaderValue("\x80\xa0\xff"), true);
});

Deno.test("isHeaderValue rejects CR, LF, NUL, DEL, other controls and characters beyond Latin-1", () => {
  const refused = [
    "\r",
    "\n",
    "a\r\nSet-Cookie: a=b",
    "a\nb",
    "a\rb",
    "\0",
    "a\0b",
    "\x7f",
    "\x01",
    "\x08",
    "\x0b",
    "\x1f",
    "\u0100",
    "\u20ac",
    "\u{1f600}",
  ];
  for (const value of refused) assert.equal(isHeaderValue(value), false, JSON.stringify(value));
});

// ---------------------------------------------------------------------------
// Sec-WebSocket-Protocol

Deno.test("parseProtocols returns [] for an absent, empty or blank header", () => {
  assert.deepEqual(parseProtocols(null), []);
  assert.deepEqual(parseProtocols(""), []);
  assert.deepEqual(parseProtocols(" \t "), []);
});

Deno.test("parseProtocols trims optional whitespace and skips empty list elements", () => {
  assert.deepEqual(parseProtocols("chat, superchat"), ["chat", "superchat"]);
  assert.deepEqual(parseProtocols(" chat ,\tsuperchat\t"), ["chat", "superchat"]);
  assert.deepEqual(parseProtocols(",chat,, ,superchat,"), ["chat", "superchat"]);
  assert.deepEqual(parseProtocols("v2.json.example"), ["v2.json.example"]);
});

Deno.test("parseProtocols refuses a non-token element with SyntaxError", () => {
  for (const value of ["chat v2", "chat, a/b", "chat;q=1", '"chat"', "chat, é"]) {
    assert.throws(() => parseProtocols(value), SyntaxError, value);
  }
});

Deno.test("formatProtocols joins subprotocols with a comma and a space", () => {
  assert.equal(formatProtocols(["chat", "superchat"]), "chat, superchat");
  assert.equal(formatProtocols(["chat"]), "chat");
  assert.equal(formatProtocols([]), "");
});

Deno.test("formatProtocols refuses a repeated subprotocol with SyntaxError", () => {
  assert.throws(() => formatProtocols(["chat", "superchat", "chat"]), SyntaxError);
});

Deno.test("formatProtocols refuses a non-token or empty subprotocol with SyntaxError", () => {
  for (const protocol of ["", "chat v2", "a,b", "a\r\nb"]) {
    assert.throws(() => formatProtocols(["chat", protocol]), SyntaxError, JSON.stringify(protocol));
  }
});

// ---------------------------------------------------------------------------
// Sec-WebSocket-Extensions (RFC 6455 §9.1)

Deno.test("parseExtensions returns [] for an absent, empty or blank header", () => {
  assert.deepEqual(parseExtensions(null), []);
  assert.deepEqual(parseExtensions(""), []);
  assert.deepEqual(parseExtensions("  \t"), []);
});

Deno.test("parseExtensions reads several extensions with parameters with and without values", () => {
  assert.deepEqual(
    parseExtensions(
      "permessage-deflate; client_max_window_bits, " +
        "permessage-deflate;server_no_context_takeover ;client_max_window_bits=10, " +
        "x-webkit-deflate-frame",
    ),
    [
      { name: "permessage-deflate", params: [["client_max_window_bits", true]] },
      {
        name: "permessage-deflate",
        params: [["server_no_context_takeover", true], ["client_max_window_bits", "10"]],
      },
      { name: "x-webkit-deflate-frame", params: [] },
    ],
  );
});

Deno.test("parseExtensions allows whitespace around = and keeps repeated parameters in order", () => {
  assert.deepEqual(parseExtensions("foo; a = 1;\ta=2 ; b"), [
    { name: "foo", params: [["a", "1"], ["a", "2"], ["b", true]] },
  ]);
});

Deno.test("parseExtensions unquotes a quoted-string value and resolves backslash escapes", () => {
  assert.deepEqual(parseExtensions('permessage-deflate; server_max_window_bits="10"'), [
    { name: "permessage-deflate", params: [["server_max_window_bits", "10"]] },
  ]);
  assert.deepEqual(parseExtensions('foo; a="\\1\\0"; b="x\\-y"'), [
    { name: "foo", params: [["a", "10"], ["b", "x-y"]] },
  ]);
});

Deno.test("parseExtensions refuses a quoted value that is not a token with SyntaxError", () => {
  // RFC 6455 §9.1: "the value ... MUST conform to the 'token' ABNF", quoted or not.
  for (const value of ['foo; a=""', 'foo; a="1 0"', 'foo; a="1,0"', 'foo; a="\\""', 'foo; a="é"']) {
    assert.throws(() => parseExtensions(value), SyntaxError, value);
  }
});

Deno.test("parseExtensions refuses an unterminated quoted string with SyntaxError", () => {
  for (const value of ['foo; a="10', 'foo; a="10\\', 'foo; a="', 'foo; a="10\\"']) {
    assert.throws(() => parseExtensions(value), SyntaxError, value);
  }
});

Deno.test("parseExtensions refuses two extensions without a comma between them", () => {
  for (const value of ["foo bar", "foo; a=1 bar", 'foo; a="1" bar', "foo; a b"]) {
    assert.throws(() => parseExtensions(value), SyntaxError, value);
  }
});

Deno.test("parseExtensions skips empty list elements", () => {
  assert.deepEqual(parseExtensions(", foo,, ,\tbar; x ,"), [
    { name: "foo", params: [] },
    { name: "bar", params: [["x", true]] },
  ]);
});

Deno.test("parseExtensions refuses a missing extension name, parameter name or value", () => {
  for (const value of ["; a", "foo;", "foo; ; a", "foo; =1", "foo; a=", "foo; a=,bar", "foo/1"]) {
    assert.throws(() => parseExtensions(value), SyntaxError, value);
  }
});

Deno.test("formatExtensions writes names and parameters in order", () => {
  assert.equal(
    formatExtensions([
      {
        name: "permessage-deflate",
        params: [["client_max_window_bits", true], ["server_max_window_bits", "10"]],
      },
      { name: "x-webkit-deflate-frame", params: [] },
    ]),
    "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-webkit-deflate-frame",
  );
  assert.equal(formatExtensions([]), "");
});

Deno.test("formatExtensions refuses a name, parameter name or value that is not a token", () => {
  const bad: Extension[][] = [
    [{ name: "", params: [] }],
    [{ name: "a b", params: [] }],
    [{ name: "foo", params: [["a;b", true]] }],
    [{ name: "foo", params: [["a", "1,2"]] }],
    [{ name: "foo", params: [["a", ""]] }],
    [{ name: "foo", params: [["a", "x\r\ny"]] }],
  ];
  for (const extensions of bad) {
    assert.throws(() => formatExtensions(extensions), SyntaxError, JSON.stringify(extensions));
  }
});

Deno.test("parseExtensions and formatExtensions round-trip", () => {
  const extensions: Extension[] = [
    {
      name: "permessage-deflate",
      params: [
        ["server_no_context_takeover", true],
        ["client_max_window_bits", "15"],
        ["client_max_window_bits", true],
      ],
    },
    { name: "permessage-deflate", params: [] },
    { name: "x.ext~1", params: [["k", "v!#$%&'*+-.^_`|~"]] },
  ];
  assert.deepEqual(parseExtensions(formatExtensions(extensions)), extensions);
  const text = 'a; b="1";c , d;e';
  assert.equal(formatExtensions(parseExtensions(text)), "a; b=1; c, d; e");
  assert.equal(
    formatExtensions(parseExtensions(formatExtensions(parseExtensions(text)))),
    "a; b=1; c, d; e",
  );
});

// ---------------------------------------------------------------------------
// parseUrl

Deno.test("parseUrl reads ws: and wss: with default ports 80 and 443", () => {
  assert.deepEqual(parseUrl("ws://example.com/chat"), {
    href: "ws://example.com/chat",
    secure: false,
    hostname: "example.com",
    port: 80,
    host: "example.com",
    resource: "/chat",
    username: "",
    password: "",
  });
  assert.deepEqual(parseUrl("wss://example.com/chat"), {
    href: "wss://example.com/chat",
    secure: true,
    hostname: "example.com",
    port: 443,
    host: "example.com",
    resource: "/chat",
    username: "",
    password: "",
  });
});

Deno.test("parseUrl maps http: to ws: and https: to wss:", () => {
  const plain = parseUrl("http://example.com/");
  assert.equal(plain.href, "ws://example.com/");
  assert.equal(plain.secure, false);
  assert.equal(plain.port, 80);
  const secure = parseUrl("https://example.com/");
  assert.equal(secure.href, "wss://example.com/");
  assert.equal(secure.secure, true);
  assert.equal(secure.port, 443);
  assert.equal(parseUrl(new URL("https://example.com/x")).href, "wss://example.com/x");
});

Deno.test("parseUrl keeps an explicit port in port and host, and drops a default one", () => {
  const url = parseUrl("ws://example.com:8080/");
  assert.equal(url.port, 8080);
  assert.equal(url.host, "example.com:8080");
  assert.equal(url.hostname, "example.com");
  const secureOn80 = parseUrl("wss://example.com:80/");
  assert.equal(secureOn80.port, 80);
  assert.equal(secureOn80.host, "example.com:80");
  const explicitDefault = parseUrl("wss://example.com:443/");
  assert.equal(explicitDefault.port, 443);
  assert.equal(explicitDefault.host, "example.com");
});

Deno.test("parseUrl gives an IPv6 hostname without brackets and a host with brackets", () => {
  const bare = parseUrl("ws://[::1]/");
  assert.equal(bare.hostname, "::1");
  assert.equal(bare.host, "[::1]");
  assert.equal(bare.port, 80);
  const withPort = parseUrl("wss://[2001:db8::1]:8443/chat");
  assert.equal(withPort.hostname, "2001:db8::1");
  assert.equal(withPort.host, "[2001:db8::1]:8443");
  assert.equal(withPort.port, 8443);
});

Deno.test("parseUrl uses the path and query as the resource, / by default", () => {
  assert.equal(parseUrl("ws://example.com").resource, "/");
  assert.equal(parseUrl("ws://example.com/").resource, "/");
  assert.equal(parseUrl("ws://example.com?room=1").resource, "/?room=1");
  assert.equal(parseUrl("ws://example.com/a/b?room=1&x=%20").resource, "/a/b?room=1&x=%20");
});

Deno.test("parseUrl refuses a fragment, even a bare #, with SyntaxError", () => {
  // RFC 6455 §3: "Fragment identifiers are meaningless in the context of WebSocket URIs".
  for (const url of ["ws://example.com/#frag", "ws://example.com/#", "wss://example.com/?q=1#"]) {
    assert.throws(() => parseUrl(url), SyntaxError, url);
  }
});

Deno.test("parseUrl refuses other schemes and invalid URLs with SyntaxError", () => {
  for (
    const url of [
      "ftp://example.com/",
      "file:///tmp/x",
      "mailto:a@example.com",
      "not a url",
      "ws://",
    ]
  ) {
    assert.throws(() => parseUrl(url), SyntaxError, url);
  }
});

Deno.test("parseUrl resolves a relative URL against a base", () => {
  const url = parseUrl("/chat?room=1", "https://example.com/app/");
  assert.equal(url.href, "wss://example.com/chat?room=1");
  assert.equal(url.resource, "/chat?room=1");
  assert.equal(
    parseUrl("socket", "ws://example.com:9000/app/").href,
    "ws://example.com:9000/app/socket",
  );
  assert.throws(() => parseUrl("/chat"), SyntaxError);
});

Deno.test("parseUrl decodes percent-encoded userinfo", () => {
  const url = parseUrl("ws://us%20er:p%40ss%3Aword@example.com/");
  assert.equal(url.username, "us er");
  assert.equal(url.password, "p@ss:word");
  assert.equal(url.host, "example.com");
  const utf8 = parseUrl("ws://%C3%A9:pw@example.com/");
  assert.equal(utf8.username, "é");
  assert.equal(utf8.password, "pw");
});

Deno.test("parseUrl keeps userinfo that is not valid percent-encoding as the URL parser left it", () => {
  // The WHATWG URL parser keeps "%zz" as is, and so does parseUrl: no URIError escapes.
  const url = parseUrl("ws://us%zzer:p%41ss@example.com/");
  assert.equal(url.username, "us%zzer");
  assert.equal(url.password, "pAss");
});

// ---------------------------------------------------------------------------
// buildUpgradeRequest

Deno.test("buildUpgradeRequest sets exactly the RFC 6455 §4.1 headers", () => {
  const request = buildUpgradeRequest("ws://example.com:8080/chat?room=1", { key: KEY });
  assert.deepEqual([...request.headers], [
    ["connection", "Upgrade"],
    ["host", "example.com:8080"],
    ["sec-websocket-key", KEY],
    ["sec-websocket-version", "13"],
    ["upgrade", "websocket"],
  ]);
  assert.equal(request.key, KEY);
  assert.equal(request.url.resource, "/chat?room=1");
  assert.deepEqual(request.protocols, []);
  assert.deepEqual(request.extensions, []);
});

Deno.test("buildUpgradeRequest generates a fresh 16-byte key when none is given", () => {
  const first = buildUpgradeRequest("ws://example.com/");
  const second = buildUpgradeRequest("ws://example.com/");
  assert.equal(fromBase64(first.key).length, 16);
  assert.equal(first.headers.get("sec-websocket-key"), first.key);
  assert.notEqual(first.key, second.key);
});

Deno.test("buildUpgradeRequest sends Sec-WebSocket-Protocol and -Extensions only when offered", () => {
  const none = buildUpgradeRequest("ws://example.com/", {
    key: KEY,
    protocols: [],
    extensions: [],
  });
  assert.equal(none.headers.has("sec-websocket-protocol"), false);
  assert.equal(none.headers.has("sec-websocket-extensions"), false);
  const offered = buildUpgradeRequest("ws://example.com/", {
    key: KEY,
    protocols: ["chat", "superchat"],
    extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }],
  });
  assert.equal(offered.headers.get("sec-websocket-protocol"), "chat, superchat");
  assert.equal(
    offered.headers.get("sec-websocket-extensions"),
    "permessage-deflate; client_max_window_bits",
  );
  assert.deepEqual(offered.protocols, ["chat", "superchat"]);
  assert.deepEqual(offered.extensions, [
    { name: "permessage-deflate", params: [["client_max_window_bits", true]] },
  ]);
});

Deno.test("buildUpgradeRequest keeps custom headers from a record, pairs or Headers", () => {
  const fromRecord = buildUpgradeRequest("ws://example.com/", {
    key: KEY,
    headers: { Origin: "http://example.com", Cookie: "a=1" },
  });
  assert.equal(fromRecord.headers.get("origin"), "http://example.com");
  assert.equal(fromRecord.headers.get("cookie"), "a=1");
  const fromPairs = buildUpgradeRequest("ws://example.com/", {
    key: KEY,
    headers: [["x-trace", "1"], ["x-trace", "2"]],
  });
  assert.equal(fromPairs.headers.get("x-trace"), "1, 2");
  const fromHeaders = buildUpgradeRequest("ws://example.com/", {
    key: KEY,
    headers: new Headers({ "user-agent": "duplex-test" }),
  });
  assert.equal(fromHeaders.headers.get("user-agent"), "duplex-test");
  assert.equal(fromHeaders.headers.get("upgrade"), "websocket");
});

Deno.test("buildUpgradeRequest refuses CR, LF or NUL in a custom header value with TypeError", () => {
  for (const value of ["a\r\nSet-Cookie: x=y", "a\nb", "a\rb", "a\0b", "a\x7fb"]) {
    assert.throws(
      () => buildUpgradeRequest("ws://example.com/", { headers: { "x-a": value } }),
      TypeError,
      JSON.stringify(value),
    );
    assert.throws(
      () => buildUpgradeRequest("ws://example.com/", { headers: [["x-a", value]] }),
      TypeError,
      JSON.stringify(value),
    );
  }
});

Deno.test("buildUpgradeRequest refuses a custom header name that is not a token with TypeError", () => {
  for (const name of ["", "x a", "x:a", "x\r\ny", "é"]) {
    assert.throws(
      () => buildUpgradeRequest("ws://example.com/", { headers: { [name]: "1" } }),
      TypeError,
      JSON.stringify(name),
    );
  }
});

Deno.test("buildUpgradeRequest refuses a custom header that overrides a handshake header", () => {
  const reserved = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "sec-websocket-version",
    "SEC-WEBSOCKET-PROTOCOL",
    "Sec-WebSocket-Extensions",
  ];
  for (const name of reserved) {
    assert.throws(
      () => buildUpgradeRequest("ws://example.com/", { headers: { [name]: "x" } }),
      TypeError,
      name,
    );
  }
});

Deno.test("buildUpgradeRequest turns URL userinfo into Basic authorization", () => {
  const request = buildUpgradeRequest("ws://aladdin:open%20sesame@example.com/", { key: KEY });
  // RFC 7617 §2 example: "Aladdin:open sesame" → QWxhZGRpbjpvcGVuIHNlc2FtZQ==.
  assert.equal(request.headers.get("authorization"), `Basic ${btoa("aladdin:open sesame")}`);
  assert.equal(request.headers.get("host"), "example.com");
  const utf8 = buildUpgradeRequest("ws://%C3%A9:pw@example.com/", { key: KEY });
  // The UTF-8 bytes C3 A9 3A 70 77, base64-encoded.
  assert.equal(utf8.headers.get("authorization"), "Basic w6k6cHc=");
  const userOnly = buildUpgradeRequest("ws://user@example.com/", { key: KEY });
  assert.equal(userOnly.headers.get("authorization"), "Basic dXNlcjo=");
});

Deno.test("buildUpgradeRequest keeps an explicit Authorization header over URL userinfo", () => {
  const request = buildUpgradeRequest("ws://user:pass@example.com/", {
    key: KEY,
    headers: { Authorization: "Bearer t0ken" },
  });
  assert.equal(request.headers.get("authorization"), "Bearer t0ken");
});

Deno.test("buildUpgradeRequest sends no Authorization without userinfo", () => {
  assert.equal(buildUpgradeRequest("ws://example.com/").headers.has("authorization"), false);
});

Deno.test("buildUpgradeRequest refuses a bad URL, repeated subprotocol or bad extension with SyntaxError", () => {
  assert.throws(() => buildUpgradeRequest("ftp://example.com/"), SyntaxError);
  assert.throws(() => buildUpgradeRequest("ws://example.com/#x"), SyntaxError);
  assert.throws(
    () => buildUpgradeRequest("ws://example.com/", { protocols: ["chat", "chat"] }),
    SyntaxError,
  );
  assert.throws(
    () => buildUpgradeRequest("ws://example.com/", { extensions: [{ name: "a b", params: [] }] }),
    SyntaxError,
  );
});

Deno.test("buildUpgradeRequest accepts a URL object and an already parsed WebSocketUrl", () => {
  const fromUrl = buildUpgradeRequest(new URL("https://[::1]:8443/x"), { key: KEY });
  assert.equal(fromUrl.headers.get("host"), "[::1]:8443");
  assert.equal(fromUrl.url.secure, true);
  const parsed = parseUrl("ws://example.com/y");
  const fromParsed = buildUpgradeRequest(parsed, { key: KEY });
  assert.equal(fromParsed.url, parsed);
  assert.equal(fromParsed.headers.get("host"), "example.com");
});

// ---------------------------------------------------------------------------
// validateUpgradeResponse

function offeringRequest(): UpgradeRequest {
  return buildUpgradeRequest("ws://example.com/chat", {
    key: KEY,
    protocols: ["chat", "superchat"],
    extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }],
  });
}

/** A valid 101 response's headers for {@linkcode KEY}, changed by `changes` (null removes). */
function responseHeaders(changes: Record<string, string | null> = {}): Headers {
  const fields: Record<string, string | null> = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": ACCEPT,
    ...changes,
  };
  const headers = new Headers();
  for (const [name, value] of Object.entries(fields)) if (value !== null) headers.set(name, value);
  return headers;
}

Deno.test("validateUpgradeResponse returns the chosen subprotocol and extensions", () => {
  const result = validateUpgradeResponse(
    {
      status: 101,
      headers: responseHeaders({
        "sec-websocket-protocol": "superchat",
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits=10",
      }),
    },
    offeringRequest(),
    ACCEPT,
  );
  assert.deepEqual(result, {
    protocol: "superchat",
    extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", "10"]] }],
  });
});

Deno.test("validateUpgradeResponse returns no subprotocol and no extensions when none were chosen", () => {
  const result = validateUpgradeResponse(
    { status: 101, headers: responseHeaders() },
    offeringRequest(),
    ACCEPT,
  );
  assert.deepEqual(result, { protocol: "", extensions: [] });
});

Deno.test("validateUpgradeResponse works with acceptKey of the request's own key", async () => {
  const request = buildUpgradeRequest("ws://example.com/");
  const accept = await acceptKey(request.key);
  const headers = responseHeaders({ "sec-websocket-accept": accept });
  assert.deepEqual(validateUpgradeResponse({ status: 101, headers }, request, accept), {
    protocol: "",
    extensions: [],
  });
});

Deno.test("validateUpgradeResponse accepts Upgrade and Connection tokens in any case inside lists", () => {
  const headers = responseHeaders({ upgrade: "WebSocket", connection: "keep-alive, upgrade" });
  assert.deepEqual(validateUpgradeResponse({ status: 101, headers }, offeringRequest(), ACCEPT), {
    protocol: "",
    extensions: [],
  });
});

Deno.test("validateUpgradeResponse refuses a non-101 status, keeping its status and headers", () => {
  const headers = new Headers({ "www-authenticate": 'Basic realm="chat"', "content-length": "0" });
  const error = assertHandshakeError(
    () => validateUpgradeResponse({ status: 401, headers }, offeringRequest(), ACCEPT),
    401,
    "UNEXPECTED_STATUS",
  );
  assert.equal(error.headers.get("www-authenticate"), 'Basic realm="chat"');
  assert.equal(error.headers.get("content-length"), "0");
  assertHandshakeError(
    () =>
      validateUpgradeResponse(
        { status: 200, headers: responseHeaders() },
        offeringRequest(),
        ACCEPT,
      ),
    200,
    "UNEXPECTED_STATUS",
  );
});

Deno.test("validateUpgradeResponse refuses a missing or non-websocket Upgrade with status 101", () => {
  for (const upgrade of [null, "h2c", "", "websocket2"]) {
    const error = assertHandshakeError(
      () =>
        validateUpgradeResponse(
          { status: 101, headers: responseHeaders({ upgrade }) },
          offeringRequest(),
          ACCEPT,
        ),
      101,
      "MISSING_UPGRADE",
    );
    assert.equal(error.headers.get("sec-websocket-accept"), ACCEPT);
  }
});

Deno.test("validateUpgradeResponse refuses a missing Connection: Upgrade with MISSING_CONNECTION", () => {
  for (const connection of [null, "keep-alive", "close"]) {
    assertHandshakeError(
      () =>
        validateUpgradeResponse(
          { status: 101, headers: responseHeaders({ connection }) },
          offeringRequest(),
          ACCEPT,
        ),
      101,
      "MISSING_CONNECTION",
    );
  }
});

Deno.test("validateUpgradeResponse refuses a missing Sec-WebSocket-Accept with MISSING_ACCEPT", () => {
  assertHandshakeError(
    () =>
      validateUpgradeResponse(
        { status: 101, headers: responseHeaders({ "sec-websocket-accept": null }) },
        offeringRequest(),
        ACCEPT,
      ),
    101,
    "MISSING_ACCEPT",
  );
});

Deno.test("validateUpgradeResponse refuses a wrong Sec-WebSocket-Accept with INVALID_ACCEPT", () => {
  // The accept of another key, the key itself, and the right value in the wrong case.
  for (
    const accept of [
      "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
      KEY,
      ACCEPT.toLowerCase(),
      `${ACCEPT}, ${ACCEPT}`,
    ]
  ) {
    assertHandshakeError(
      () =>
        validateUpgradeResponse(
          { status: 101, headers: responseHeaders({ "sec-websocket-accept": accept }) },
          offeringRequest(),
          ACCEPT,
        ),
      101,
      "INVALID_ACCEPT",
    );
  }
});

Deno.test("validateUpgradeResponse refuses a subprotocol that was not offered", () => {
  // RFC 6455 §4.1: a subprotocol "that was not present in the client's handshake" fails it.
  for (const protocol of ["mqtt", "Chat", "chat, superchat"]) {
    assertHandshakeError(
      () =>
        validateUpgradeResponse(
          { status: 101, headers: responseHeaders({ "sec-websocket-protocol": protocol }) },
          offeringRequest(),
          ACCEPT,
        ),
      101,
      "UNEXPECTED_PROTOCOL",
    );
  }
  const offeringNone = buildUpgradeRequest("ws://example.com/", { key: KEY });
  assertHandshakeError(
    () =>
      validateUpgradeResponse(
        { status: 101, headers: responseHeaders({ "sec-websocket-protocol": "chat" }) },
        offeringNone,
        ACCEPT,
      ),
    101,
    "UNEXPECTED_PROTOCOL",
  );
});

Deno.test("validateUpgradeResponse treats an empty Sec-WebSocket-Protocol as no subprotocol", () => {
  const result = validateUpgradeResponse(
    { status: 101, headers: responseHeaders({ "sec-websocket-protocol": "" }) },
    offeringRequest(),
    ACCEPT,
  );
  assert.equal(result.protocol, "");
});

Deno.test("validateUpgradeResponse refuses an extension that was not offered", () => {
  // RFC 6455 §4.1: "the use of an extension that was not present in the client's handshake".
  assertHandshakeError(
    () =>
      validateUpgradeResponse(
        {
          status: 101,
          headers: responseHeaders({
            "sec-websocket-extensions": "permessage-deflate, x-webkit-deflate-frame",
          }),
        },
        offeringRequest(),
        ACCEPT,
      ),
    101,
    "UNEXPECTED_EXTENSION",
  );
  const offeringNone = buildUpgradeRequest("ws://example.com/", { key: KEY });
  assertHandshakeError(
    () =>
      validateUpgradeResponse(
        {
          status: 101,
          headers: responseHeaders({ "sec-websocket-extensions": "permessage-deflate" }),
        },
        offeringNone,
        ACCEPT,
      ),
    101,
    "UNEXPECTED_EXTENSION",
  );
});

Deno.test("validateUpgradeResponse refuses a malformed Sec-WebSocket-Extensions with INVALID_EXTENSIONS", () => {
  for (const value of ['permessage-deflate; a="1', "permessage-deflate x", "permessage-deflate;"]) {
    assertHandshakeError(
      () =>
        validateUpgradeResponse(
          { status: 101, headers: responseHeaders({ "sec-websocket-extensions": value }) },
          offeringRequest(),
          ACCEPT,
        ),
      101,
      "INVALID_EXTENSIONS",
    );
  }
});

// ---------------------------------------------------------------------------
// validateUpgradeRequest

/** A valid upgrade request's headers, changed by `changes` (null removes). */
function requestHeaders(changes: Record<string, string | null> = {}): Headers {
  const fields: Record<string, string | null> = {
    host: "server.example.com",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
    ...changes,
  };
  const headers = new Headers();
  for (const [name, value] of Object.entries(fields)) if (value !== null) headers.set(name, value);
  return headers;
}

Deno.test("validateUpgradeRequest returns the key, subprotocols and extensions offered", () => {
  const offer = validateUpgradeRequest({
    method: "GET",
    httpVersion: "HTTP/1.1",
    headers: requestHeaders({
      "sec-websocket-protocol": "chat, superchat",
      "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    }),
  });
  assert.deepEqual(offer, {
    key: KEY,
    protocols: ["chat", "superchat"],
    extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }],
  });
  assert.deepEqual(validateUpgradeRequest({ method: "GET", headers: requestHeaders() }), {
    key: KEY,
    protocols: [],
    extensions: [],
  });
});

Deno.test("validateUpgradeRequest accepts a Request", () => {
  const request = new Request("http://server.example.com/chat", { headers: requestHeaders() });
  assert.deepEqual(validateUpgradeRequest(request), { key: KEY, protocols: [], extensions: [] });
});

Deno.test("validateUpgradeRequest answers 405 with Allow: GET for POST", () => {
  for (const method of ["POST", "get", "HEAD"]) {
    const error = assertHandshakeError(
      () => validateUpgradeRequest({ method, headers: requestHeaders() }),
      405,
      "INVALID_METHOD",
    );
    assert.equal(error.headers.get("allow"), "GET");
  }
});

Deno.test("validateUpgradeRequest answers 400 for HTTP/1.0", () => {
  // RFC 6455 §4.1: "the HTTP version MUST be at least 1.1".
  assertHandshakeError(
    () =>
      validateUpgradeRequest({ method: "GET", httpVersion: "HTTP/1.0", headers: requestHeaders() }),
    400,
    "INVALID_HTTP_VERSION",
  );
});

Deno.test("validateUpgradeRequest answers 426 with Upgrade: websocket when Upgrade is absent", () => {
  const error = assertHandshakeError(
    () => validateUpgradeRequest({ method: "GET", headers: requestHeaders({ upgrade: null }) }),
    426,
    "UPGRADE_REQUIRED",
  );
  assert.equal(error.headers.get("upgrade"), "websocket");
  assert.equal(error.headers.get("connection"), "Upgrade");
});

Deno.test("validateUpgradeRequest answers 400 for Upgrade: h2c", () => {
  for (const upgrade of ["h2c", "", "websocket2"]) {
    assertHandshakeError(
      () => validateUpgradeRequest({ method: "GET", headers: requestHeaders({ upgrade }) }),
      400,
      "INVALID_UPGRADE",
    );
  }
});

Deno.test("validateUpgradeRequest matches Upgrade and Connection tokens case-insensitively in lists", () => {
  const cases: Record<string, string>[] = [
    { upgrade: "WebSocket", connection: "keep-alive, Upgrade" },
    { upgrade: "h2c, websocket", connection: "UPGRADE" },
    { upgrade: "WEBSOCKET", connection: "upgrade,keep-alive" },
    { upgrade: " websocket ", connection: ", Upgrade ," },
  ];
  for (const changes of cases) {
    assert.deepEqual(
      validateUpgradeRequest({ method: "GET", headers: requestHeaders(changes) }),
      { key: KEY, protocols: [], extensions: [] },
      JSON.stringify(changes),
    );
  }
});

Deno.test("validateUpgradeRequest answers 400 when Connection lacks the upgrade token", () => {
  for (const connection of [null, "keep-alive", "upgrade-insecure", "close"]) {
    assertHandshakeError(
      () => validateUpgradeRequest({ method: "GET", headers: requestHeaders({ connection }) }),
      400,
      "INVALID_CONNECTION",
    );
  }
});

Deno.test("validateUpgradeRequest answers 426 with Sec-WebSocket-Version: 13 for a missing version", () => {
  const error = assertHandshakeError(
    () =>
      validateUpgradeRequest({
        method: "GET",
        headers: requestHeaders({ "sec-websocket-version": null }),
      }),
    426,
    "UNSUPPORTED_VERSION",
  );
  assert.equal(error.headers.get("sec-websocket-version"), "13");
});

Deno.test("validateUpgradeRequest answers 426 with Sec-WebSocket-Version: 13 for version 25", () => {
  // RFC 6455 §4.2.2: answer with "a |Sec-WebSocket-Version| header field indicating the
  // version(s) the server is capable of understanding".
  const error = assertHandshakeError(
    () =>
      validateUpgradeRequest({
        method: "GET",
        headers: requestHeaders({ "sec-websocket-version": "25" }),
      }),
    426,
    "UNSUPPORTED_VERSION",
  );
  assert.equal(error.headers.get("sec-websocket-version"), "13");
});

Deno.test("validateUpgradeRequest answers 426 with Sec-WebSocket-Version: 13 for '13, 8'", () => {
  for (const version of ["13, 8", "8", "", "013"]) {
    const error = assertHandshakeError(
      () =>
        validateUpgradeRequest({
          method: "GET",
          headers: requestHeaders({ "sec-websocket-version": version }),
        }),
      426,
      "UNSUPPORTED_VERSION",
    );
    assert.equal(error.headers.get("sec-websocket-version"), "13");
  }
});

Deno.test("validateUpgradeRequest answers 400 for a missing key", () => {
  assertHandshakeError(
    () =>
      validateUpgradeRequest({
        method: "GET",
        headers: requestHeaders({ "sec-websocket-key": null }),
      }),
    400,
    "MISSING_KEY",
  );
});

Deno.test("validateUpgradeRequest answers 400 for a key that is not the base64 of 16 bytes", () => {
  const keys = [
    "",
    "dGhlIHNhbXBsZSBub25jZQ=", // one "=" short
    "dGhlIHNhbXBsZSBub25jZQ", // unpadded
    "dGhlIHNhbXBsZSBub25j", // 15 bytes
    "dGhlIHNhbXBsZSBub25jZXM=", // 17 bytes
    "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==", // 32 bytes
    "dGhlIHNhbXBsZSBub25jZ!==", // not base64
    "dGhlIHNhbXBsZSBub25jZ-==", // base64url, not base64
    "dGhlIHNhbXBs ZSBub25jZQ==", // inner space
  ];
  for (const key of keys) {
    assertHandshakeError(
      () =>
        validateUpgradeRequest({
          method: "GET",
          headers: requestHeaders({ "sec-websocket-key": key }),
        }),
      400,
      "INVALID_KEY",
    );
  }
});

Deno.test("validateUpgradeRequest answers 400 for two keys joined by a comma", () => {
  const headers = requestHeaders();
  headers.append("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw==");
  assert.equal(headers.get("sec-websocket-key"), `${KEY}, x3JJHMbDL1EzLkh9GBhXDw==`);
  assertHandshakeError(
    () => validateUpgradeRequest({ method: "GET", headers }),
    400,
    "INVALID_KEY",
  );
});

Deno.test("validateUpgradeRequest answers 400 for a malformed subprotocol or extension list", () => {
  const cases: Record<string, string>[] = [
    { "sec-websocket-protocol": "chat v2" },
    { "sec-websocket-protocol": "chat, a/b" },
    { "sec-websocket-extensions": 'permessage-deflate; a="1' },
    { "sec-websocket-extensions": "permessage-deflate x" },
  ];
  for (const changes of cases) {
    assertHandshakeError(
      () => validateUpgradeRequest({ method: "GET", headers: requestHeaders(changes) }),
      400,
      "INVALID_NEGOTIATION",
    );
  }
});

// ---------------------------------------------------------------------------
// buildUpgradeResponse

const OFFER: UpgradeOffer = {
  key: KEY,
  protocols: ["chat", "superchat"],
  extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }],
};

Deno.test("buildUpgradeResponse sets Upgrade, Connection and the RFC 6455 §1.3 accept value", () => {
  const headers = buildUpgradeResponse(OFFER);
  assert.deepEqual([...headers], [
    ["connection", "Upgrade"],
    ["sec-websocket-accept", ACCEPT],
    ["upgrade", "websocket"],
  ]);
});

Deno.test("buildUpgradeResponse sets Sec-WebSocket-Protocol only for a chosen subprotocol", () => {
  const chosen = buildUpgradeResponse(OFFER, { protocol: "superchat" });
  assert.equal(chosen.get("sec-websocket-protocol"), "superchat");
  const empty = buildUpgradeResponse(OFFER, { protocol: "" });
  assert.equal(empty.has("sec-websocket-protocol"), false);
});

Deno.test("buildUpgradeResponse refuses a subprotocol that was not offered with TypeError", () => {
  assert.throws(() => buildUpgradeResponse(OFFER, { protocol: "mqtt" }), TypeError);
  assert.throws(() => buildUpgradeResponse(OFFER, { protocol: "Chat" }), TypeError);
  assert.throws(
    () => buildUpgradeResponse({ key: KEY, protocols: [], extensions: [] }, { protocol: "chat" }),
    TypeError,
  );
});

Deno.test("buildUpgradeResponse sets Sec-WebSocket-Extensions only for accepted extensions", () => {
  const none = buildUpgradeResponse(OFFER, { extensions: [] });
  assert.equal(none.has("sec-websocket-extensions"), false);
  const accepted = buildUpgradeResponse(OFFER, {
    extensions: [
      {
        name: "permessage-deflate",
        params: [["server_no_context_takeover", true], ["client_max_window_bits", "10"]],
      },
    ],
  });
  assert.equal(
    accepted.get("sec-websocket-extensions"),
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
  );
});

Deno.test("buildUpgradeResponse refuses an extension that was not offered with TypeError", () => {
  assert.throws(
    () =>
      buildUpgradeResponse(OFFER, { extensions: [{ name: "x-webkit-deflate-frame", params: [] }] }),
    TypeError,
  );
});

Deno.test("buildUpgradeResponse keeps extra headers such as Set-Cookie", () => {
  const headers = buildUpgradeResponse(OFFER, {
    headers: [["set-cookie", "a=1; Path=/"], ["set-cookie", "b=2"], ["x-server", "duplex"]],
  });
  assert.deepEqual(headers.getSetCookie(), ["a=1; Path=/", "b=2"]);
  assert.equal(headers.get("x-server"), "duplex");
  assert.equal(headers.get("sec-websocket-accept"), ACCEPT);
});

Deno.test("buildUpgradeResponse refuses a malformed extra header with TypeError", () => {
  assert.throws(
    () => buildUpgradeResponse(OFFER, { headers: { "x-a": "1\r\nx-b: 2" } }),
    TypeError,
  );
  assert.throws(() => buildUpgradeResponse(OFFER, { headers: { "x a": "1" } }), TypeError);
});

Deno.test("buildUpgradeResponse refuses extra headers that would override the handshake's own", () => {
  // Otherwise a subprotocol the client never offered could be slipped in.
  for (
    const name of [
      "Sec-WebSocket-Protocol",
      "sec-websocket-extensions",
      "Sec-WebSocket-Accept",
      "Upgrade",
    ]
  ) {
    assert.throws(
      () => buildUpgradeResponse(OFFER, { headers: { [name]: "evil" } }),
      (error) => error instanceof TypeError && error.message.includes("set by the handshake"),
      name,
    );
  }
});

// ---------------------------------------------------------------------------
// Both sides together

Deno.test("a handshake built here passes both sides' validation through HTTP/1.1 bytes", async () => {
  const request = buildUpgradeRequest("wss://example.com/chat?room=1", {
    protocols: ["chat", "superchat"],
    extensions: [{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }],
    headers: { origin: "https://example.com" },
  });
  const requestBytes = serializeRequestHead("GET", request.url.resource, request.headers);

  const serverReader = new HttpHeadReader();
  const requestHead = parseRequestHead(serverReader.push(requestBytes)!);
  assert.equal(requestHead.target, "/chat?room=1");
  const offer = validateUpgradeRequest({
    method: requestHead.method,
    httpVersion: requestHead.version,
    headers: requestHead.headers,
  });
  assert.equal(offer.key, request.key);
  const responseFields = buildUpgradeResponse(offer, {
    protocol: offer.protocols[1]!,
    extensions: [{ name: "permessage-deflate", params: [["server_no_context_takeover", true]] }],
  });
  const responseBytes = serializeResponseHead(101, "Switching Protocols", responseFields);

  const clientReader = new HttpHeadReader();
  const responseHead = parseResponseHead(clientReader.push(responseBytes)!);
  assert.equal(responseHead.status, 101);
  const result = validateUpgradeResponse(responseHead, request, await acceptKey(request.key));
  assert.deepEqual(result, {
    protocol: "superchat",
    extensions: [{ name: "permessage-deflate", params: [["server_no_context_takeover", true]] }],
  });
});
