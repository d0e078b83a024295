// Copyright 2026 the Duplex authors. MIT license.
// The server's side of the opening handshake, without I/O: acceptUpgrade(),
// rejectUpgrade() and buildUpgradeResponse(), driven with request objects.
import assert from "node:assert/strict";
import {
  acceptUpgrade,
  buildUpgradeResponse,
  HandshakeError,
  type OriginPolicy,
  rejectUpgrade,
  type ServerHandshakeOptions,
  type UpgradeRequestLike,
} from "../codec/mod.ts";
import { deflateFor } from "../_deflate.ts";
import { assertHandshakeError } from "./_util.ts";

// RFC 6455 §1.3: the example key and the accept value it yields.
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** A valid upgrade request; `changes` sets headers, `null` removes one. */
function upgradeRequest(
  changes: Record<string, string | null> = {},
  method = "GET",
): UpgradeRequestLike {
  const headers = new Headers({
    host: "example.com",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
  });
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  return { method, headers };
}

/** A request from a browser page at `origin`. */
const fromOrigin = (origin: string) => upgradeRequest({ origin });

/** The value of a field of `fields`; throws if it is there more than once. */
function field(fields: [string, string][], name: string): string | undefined {
  const values = fields.filter(([key]) => key === name).map(([, value]) => value);
  assert.ok(values.length <= 1, `${name} appears ${values.length} times`);
  return values[0];
}

/** Asserts that the request from `origin` is refused with 403 under `allowedOrigins`. */
function assertOriginRefused(origin: string, allowedOrigins: OriginPolicy): void {
  const error = assertHandshakeError(
    () => acceptUpgrade(fromOrigin(origin), { allowedOrigins }),
    403,
    "FORBIDDEN_ORIGIN",
  );
  assert.match(error.message, /^Cannot upgrade to WebSocket: origin .* is not allowed$/);
}

/** Asserts that the request from `origin` is accepted under `allowedOrigins`. */
function assertOriginAllowed(origin: string, allowedOrigins: OriginPolicy | undefined): void {
  const accepted = acceptUpgrade(fromOrigin(origin), { allowedOrigins });
  assert.equal(field(accepted.fields, "sec-websocket-accept"), ACCEPT);
}

// acceptUpgrade: the 101's fields

Deno.test("acceptUpgrade builds the 101's fields in order with the RFC 6455 §1.3 accept value", () => {
  const accepted = acceptUpgrade(upgradeRequest());
  assert.deepEqual(accepted.fields, [
    ["upgrade", "websocket"],
    ["connection", "Upgrade"],
    ["sec-websocket-accept", ACCEPT],
  ]);
  assert.equal(accepted.protocol, "");
  assert.equal(accepted.extensions, "");
  assert.equal(accepted.deflate, null);
  assert.deepEqual(accepted.offer, { key: KEY, protocols: [], extensions: [] });
});

Deno.test("acceptUpgrade accepts a Request object", () => {
  const request = new Request("http://example.com/chat", {
    headers: {
      upgrade: "websocket",
      connection: "keep-alive, Upgrade",
      "sec-websocket-key": KEY,
      "sec-websocket-version": "13",
    },
  });
  assert.equal(field(acceptUpgrade(request).fields, "sec-websocket-accept"), ACCEPT);
});

Deno.test("acceptUpgrade adds the chosen subprotocol's field after the accept field", () => {
  const accepted = acceptUpgrade(
    upgradeRequest({ "sec-websocket-protocol": "chat, superchat" }),
    { protocol: "chat" },
  );
  assert.equal(accepted.protocol, "chat");
  assert.deepEqual(accepted.fields, [
    ["upgrade", "websocket"],
    ["connection", "Upgrade"],
    ["sec-websocket-accept", ACCEPT],
    ["sec-websocket-protocol", "chat"],
  ]);
});

Deno.test("acceptUpgrade appends extra headers last, their names lower-cased", () => {
  const accepted = acceptUpgrade(upgradeRequest(), {
    headers: { "Set-Cookie": "session=1", "X-Served-By": "Duplex" },
  });
  assert.deepEqual(accepted.fields.slice(3), [
    ["set-cookie", "session=1"],
    ["x-served-by", "Duplex"],
  ]);
});

Deno.test("acceptUpgrade takes extra headers as pairs or a Headers object too", () => {
  const pairs = acceptUpgrade(upgradeRequest(), { headers: [["X-A", "1"], ["X-A", "2"]] });
  assert.deepEqual(pairs.fields.slice(3), [["x-a", "1"], ["x-a", "2"]]);
  const headers = acceptUpgrade(upgradeRequest(), { headers: new Headers({ "X-B": "3" }) });
  assert.deepEqual(headers.fields.slice(3), [["x-b", "3"]]);
});

Deno.test("acceptUpgrade refuses each header the handshake sets itself, in any case, with TypeError", () => {
  for (
    const name of [
      "upgrade",
      "Connection",
      "Sec-WebSocket-Accept",
      "sec-websocket-protocol",
      "SEC-WEBSOCKET-EXTENSIONS",
    ]
  ) {
    assert.throws(
      () => acceptUpgrade(upgradeRequest(), { headers: { [name]: "x" } }),
      (error) =>
        error instanceof TypeError &&
        error.message === `Cannot build response: header ${name} is set by the handshake`,
      name,
    );
  }
});

Deno.test("acceptUpgrade refuses a malformed extra header name or value with TypeError", () => {
  for (
    const headers of [
      { "bad name": "x" },
      { "x:y": "x" },
      { "": "x" },
      { "x-ok": "line\r\nbreak" },
      { "x-ok": "nul\0" },
    ]
  ) {
    assert.throws(
      () => acceptUpgrade(upgradeRequest(), { headers }),
      (error) => error instanceof TypeError && /is malformed$/.test(error.message),
      JSON.stringify(headers),
    );
  }
});

// acceptUpgrade: choosing the subprotocol

Deno.test("acceptUpgrade uses a subprotocol given as a string only if the client offered it", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat, superchat" });
  assert.equal(acceptUpgrade(request, { protocol: "superchat" }).protocol, "superchat");
  const none = acceptUpgrade(request, { protocol: "mqtt" });
  assert.equal(none.protocol, "");
  assert.equal(field(none.fields, "sec-websocket-protocol"), undefined);
});

Deno.test("acceptUpgrade picks the server's first preference the client offered, not the client's", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat, superchat, v2" });
  const accepted = acceptUpgrade(request, { protocol: ["mqtt", "v2", "chat"] });
  assert.equal(accepted.protocol, "v2");
  assert.equal(field(accepted.fields, "sec-websocket-protocol"), "v2");
});

Deno.test("acceptUpgrade chooses no subprotocol when no preference was offered", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat" });
  const accepted = acceptUpgrade(request, { protocol: ["mqtt", "v2"] });
  assert.equal(accepted.protocol, "");
  assert.equal(field(accepted.fields, "sec-websocket-protocol"), undefined);
  assert.equal(acceptUpgrade(upgradeRequest(), { protocol: ["chat"] }).protocol, "");
});

Deno.test("acceptUpgrade lets a function choose among the offered subprotocols, in the client's order", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat, superchat" });
  let seen: readonly string[] = [];
  const accepted = acceptUpgrade(request, {
    protocol: (offered) => {
      seen = offered;
      return offered.at(-1);
    },
  });
  assert.deepEqual(seen, ["chat", "superchat"]);
  assert.equal(accepted.protocol, "superchat");
  assert.equal(field(accepted.fields, "sec-websocket-protocol"), "superchat");
});

Deno.test("acceptUpgrade goes without a subprotocol when the function returns undefined or empty", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat" });
  for (const choice of [undefined, ""]) {
    const accepted = acceptUpgrade(request, { protocol: () => choice });
    assert.equal(accepted.protocol, "");
    assert.equal(field(accepted.fields, "sec-websocket-protocol"), undefined);
  }
});

Deno.test("acceptUpgrade refuses a function that picks a subprotocol not offered with TypeError", () => {
  const request = upgradeRequest({ "sec-websocket-protocol": "chat" });
  assert.throws(
    () => acceptUpgrade(request, { protocol: () => "superchat" }),
    (error) =>
      error instanceof TypeError && !(error instanceof HandshakeError) &&
      error.message === 'Cannot upgrade: the chosen subprotocol "superchat" was not offered',
  );
});

// acceptUpgrade: origins

Deno.test("acceptUpgrade allows an exactly matching origin", () => {
  assertOriginAllowed("https://good.example.com", ["https://good.example.com"]);
  assertOriginAllowed("https://b.example", ["https://a.example", "https://b.example"]);
});

Deno.test("acceptUpgrade matches origins case-insensitively, without the default port or trailing slash", () => {
  assertOriginAllowed("https://EXAMPLE.com:443/", ["https://example.com"]);
  assertOriginAllowed("https://example.com", ["HTTPS://Example.COM:443/"]);
  assertOriginAllowed("http://example.com:80", ["http://example.com/"]);
  assertOriginAllowed("http://example.com:8080", ["http://EXAMPLE.com:8080"]);
});

Deno.test("acceptUpgrade refuses an origin that differs in scheme or port with 403", () => {
  assertOriginRefused("http://example.com", ["https://example.com"]);
  assertOriginRefused("https://example.com:443", ["https://example.com:8443"]);
  assertOriginRefused("http://example.com:443", ["http://example.com"]);
});

Deno.test("acceptUpgrade refuses an origin that only shares a prefix with an allowed one with 403", () => {
  const allowed = ["https://good.example.com"];
  assertOriginRefused("https://good", allowed);
  assertOriginRefused("good", allowed);
  assertOriginRefused("https://good.example", allowed);
});

Deno.test("acceptUpgrade refuses an origin that extends an allowed one with 403", () => {
  const allowed = ["https://good.example.com"];
  assertOriginRefused("https://good.example.com.evil.com", allowed);
  assertOriginRefused("https://good.example.com:8443", allowed);
  assertOriginRefused("https://evil.good.example.com", allowed);
  assertOriginRefused("https://good.example.com/path", allowed);
  assertOriginRefused("https://good.example.com?x", allowed);
});

Deno.test("acceptUpgrade refuses an Origin header with userinfo or a fragment, which no serialized origin has", () => {
  // RFC 6454 §6.2: an origin serializes as scheme "://" host [ ":" port ].
  const allowed = ["https://good.example.com"];
  assertOriginRefused("https://user@good.example.com", allowed);
  assertOriginRefused("https://user:pass@good.example.com", allowed);
  assertOriginRefused("https://good.example.com#x", allowed);
});

Deno.test("acceptUpgrade refuses the opaque origin null unless * is allowed", () => {
  assertOriginRefused("null", ["https://good.example.com"]);
  assertOriginRefused("null", ["null"]);
  assertOriginAllowed("null", ["*"]);
});

Deno.test("acceptUpgrade allows any origin with * among the allowed origins", () => {
  assertOriginAllowed("https://anything.example", ["*"]);
  assertOriginAllowed("https://anything.example", ["https://good.example.com", "*"]);
  assertOriginAllowed("not a url", ["*"]);
});

Deno.test("acceptUpgrade refuses every origin with an empty list of allowed origins", () => {
  assertOriginRefused("https://good.example.com", []);
});

Deno.test("acceptUpgrade asks an origin function, with the Origin header as sent", () => {
  const asked: string[] = [];
  const policy = (origin: string) => {
    asked.push(origin);
    return origin.endsWith(".trusted.example");
  };
  assertOriginAllowed("https://app.trusted.example", policy);
  assertOriginRefused("https://app.trusted.example.evil", policy);
  assert.deepEqual(asked, ["https://app.trusted.example", "https://app.trusted.example.evil"]);
});

Deno.test("acceptUpgrade allows a request without an Origin header, whatever the policy", () => {
  let asked = false;
  for (
    const allowedOrigins of [
      ["https://good.example.com"],
      [],
      () => {
        asked = true;
        return false;
      },
    ]
  ) {
    const accepted = acceptUpgrade(upgradeRequest(), { allowedOrigins });
    assert.equal(field(accepted.fields, "sec-websocket-accept"), ACCEPT);
  }
  assert.equal(asked, false, "the origin function is not asked without an Origin");
});

Deno.test("acceptUpgrade allows any origin when allowedOrigins is not set", () => {
  assertOriginAllowed("https://anything.example", undefined);
  assert.equal(
    field(acceptUpgrade(fromOrigin("null")).fields, "sec-websocket-accept"),
    ACCEPT,
  );
});

Deno.test("acceptUpgrade refuses allowedOrigins given as a string instead of an array with TypeError", () => {
  // A string would otherwise "allow" its own substrings.
  for (const origin of ["https://good.example.com", "https://good", "good"]) {
    assert.throws(
      () =>
        acceptUpgrade(fromOrigin(origin), {
          // deno-lint-ignore no-explicit-any
          allowedOrigins: "https://good.example.com" as any,
        }),
      (error) =>
        error instanceof TypeError &&
        error.message ===
          "Cannot use allowedOrigins: it must be an array of origins or a function",
      origin,
    );
  }
});

Deno.test("acceptUpgrade refuses allowedOrigins that is neither an array of strings nor a function with TypeError", () => {
  for (const allowedOrigins of [42, {}, null, true, new Set(["https://good.example.com"]), [1]]) {
    assert.throws(
      () =>
        acceptUpgrade(fromOrigin("https://good.example.com"), {
          allowedOrigins: allowedOrigins as unknown as OriginPolicy,
        }),
      TypeError,
      String(allowedOrigins),
    );
  }
});

Deno.test("acceptUpgrade refuses a string allowedOrigins even for a request without Origin", () => {
  // The JSDoc promises a TypeError for a malformed policy; a misconfigured
  // server should learn of it at the first connection, not the first browser.
  assert.throws(
    () =>
      acceptUpgrade(upgradeRequest(), {
        allowedOrigins: "https://good.example.com" as unknown as OriginPolicy,
      }),
    TypeError,
  );
});

// acceptUpgrade: refusals from validateUpgradeRequest

Deno.test("acceptUpgrade refuses a POST with a 405 HandshakeError carrying Allow: GET", () => {
  const error = assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({}, "POST")),
    405,
    "INVALID_METHOD",
  );
  assert.equal(error.headers.get("allow"), "GET");
});

Deno.test("acceptUpgrade refuses a request that does not ask to upgrade with 426", () => {
  const error = assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ upgrade: null })),
    426,
    "UPGRADE_REQUIRED",
  );
  assert.equal(error.headers.get("upgrade"), "websocket");
});

Deno.test("acceptUpgrade refuses version 8 with 426 and Sec-WebSocket-Version: 13", () => {
  const error = assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ "sec-websocket-version": "8" })),
    426,
    "UNSUPPORTED_VERSION",
  );
  assert.equal(error.headers.get("sec-websocket-version"), "13");
});

Deno.test("acceptUpgrade refuses a broken handshake with 400", () => {
  assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ "sec-websocket-key": "short" })),
    400,
    "INVALID_KEY",
  );
  assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ "sec-websocket-key": null })),
    400,
    "MISSING_KEY",
  );
  assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ connection: "keep-alive" })),
    400,
    "INVALID_CONNECTION",
  );
  assertHandshakeError(
    () => acceptUpgrade(upgradeRequest({ "sec-websocket-protocol": "a b" })),
    400,
    "INVALID_NEGOTIATION",
  );
  assertHandshakeError(
    () => acceptUpgrade({ ...upgradeRequest(), httpVersion: "HTTP/1.0" }),
    400,
    "INVALID_HTTP_VERSION",
  );
});

Deno.test("acceptUpgrade reports a broken request before a forbidden origin", () => {
  assertHandshakeError(
    () =>
      acceptUpgrade(upgradeRequest({ origin: "https://evil.example", upgrade: null }), {
        allowedOrigins: ["https://good.example.com"],
      }),
    426,
    "UPGRADE_REQUIRED",
  );
});

// acceptUpgrade: permessage-deflate

Deno.test("acceptUpgrade agrees to a browser's permessage-deflate offer, with context takeover and 12-bit windows both ways", () => {
  const accepted = acceptUpgrade(
    upgradeRequest({ "sec-websocket-extensions": "permessage-deflate; client_max_window_bits" }),
    { deflate: deflateFor(true) },
  );
  assert.ok(accepted.deflate !== null);
  assert.equal(accepted.deflate.windowBits, 12);
  assert.equal(accepted.deflate.peerWindowBits, 12);
  assert.equal(accepted.deflate.takeover, true);
  assert.equal(accepted.deflate.peerTakeover, true);
  const expected = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12";
  assert.equal(accepted.extensions, expected);
  assert.equal(field(accepted.fields, "sec-websocket-extensions"), expected);
  accepted.deflate.compressor.close?.();
});

Deno.test("acceptUpgrade configured without context takeover states it for both sides", () => {
  const accepted = acceptUpgrade(
    upgradeRequest({ "sec-websocket-extensions": "permessage-deflate; client_max_window_bits" }),
    { deflate: deflateFor({ serverNoContextTakeover: true, clientNoContextTakeover: true }) },
  );
  assert.ok(accepted.deflate !== null);
  assert.equal(accepted.deflate.takeover, false);
  assert.equal(accepted.deflate.peerTakeover, false);
  assert.equal(accepted.deflate.threshold, 1024);
  const expected = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; " +
    "server_max_window_bits=12; client_max_window_bits=12";
  assert.equal(accepted.extensions, expected);
  assert.equal(field(accepted.fields, "sec-websocket-extensions"), expected);
});

Deno.test("acceptUpgrade honours server_max_window_bits from the offer and states it in the answer", () => {
  const accepted = acceptUpgrade(
    upgradeRequest({ "sec-websocket-extensions": "permessage-deflate; server_max_window_bits=10" }),
    { deflate: deflateFor(true) },
  );
  assert.equal(accepted.deflate?.windowBits, 10);
  // Without client_max_window_bits in the offer, the client's window stays its own.
  assert.equal(accepted.deflate.peerWindowBits, 15);
  assert.equal(accepted.extensions, "permessage-deflate; server_max_window_bits=10");
  accepted.deflate.compressor.close?.();
});

Deno.test("acceptUpgrade goes without compression when the client offers none", () => {
  const accepted = acceptUpgrade(upgradeRequest(), { deflate: deflateFor(true) });
  assert.equal(accepted.deflate, null);
  assert.equal(accepted.extensions, "");
  assert.equal(field(accepted.fields, "sec-websocket-extensions"), undefined);
});

Deno.test("acceptUpgrade declines an offer it cannot honour or does not know", () => {
  for (
    const offer of [
      "x-webkit-deflate-frame",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; unknown_param",
    ]
  ) {
    const accepted = acceptUpgrade(upgradeRequest({ "sec-websocket-extensions": offer }), {
      deflate: deflateFor(true),
    });
    assert.equal(accepted.deflate, null, offer);
    assert.equal(accepted.extensions, "", offer);
    assert.equal(field(accepted.fields, "sec-websocket-extensions"), undefined, offer);
  }
});

Deno.test("acceptUpgrade ignores a deflate offer when the server does not offer compression", () => {
  const options: ServerHandshakeOptions = {};
  const accepted = acceptUpgrade(
    upgradeRequest({ "sec-websocket-extensions": "permessage-deflate" }),
    options,
  );
  assert.equal(accepted.deflate, null);
  assert.equal(accepted.extensions, "");
  assert.equal(field(accepted.fields, "sec-websocket-extensions"), undefined);
});

// buildUpgradeResponse

Deno.test("buildUpgradeResponse gives the RFC 6455 §1.3 accept value and the chosen subprotocol", () => {
  const headers = buildUpgradeResponse(
    { key: KEY, protocols: ["chat", "superchat"], extensions: [] },
    { protocol: "chat", headers: { "Set-Cookie": "a=b" } },
  );
  assert.deepEqual([...headers], [
    ["connection", "Upgrade"],
    ["sec-websocket-accept", ACCEPT],
    ["sec-websocket-protocol", "chat"],
    ["set-cookie", "a=b"],
    ["upgrade", "websocket"],
  ]);
});

Deno.test("buildUpgradeResponse sends no subprotocol for none or an empty one", () => {
  const offer = { key: KEY, protocols: ["chat"], extensions: [] };
  assert.equal(buildUpgradeResponse(offer).get("sec-websocket-protocol"), null);
  assert.equal(buildUpgradeResponse(offer, { protocol: "" }).get("sec-websocket-protocol"), null);
});

Deno.test("buildUpgradeResponse refuses a subprotocol or an extension that was not offered with TypeError", () => {
  const offer = { key: KEY, protocols: ["chat"], extensions: [] };
  assert.throws(() => buildUpgradeResponse(offer, { protocol: "superchat" }), TypeError);
  assert.throws(
    () => buildUpgradeResponse(offer, { extensions: [{ name: "permessage-deflate", params: [] }] }),
    TypeError,
  );
});

Deno.test("buildUpgradeResponse refuses a reserved or malformed extra header with TypeError", () => {
  const offer = { key: KEY, protocols: [], extensions: [] };
  assert.throws(
    () => buildUpgradeResponse(offer, { headers: { "Sec-WebSocket-Protocol": "chat" } }),
    TypeError,
  );
  assert.throws(() => buildUpgradeResponse(offer, { headers: { "a b": "c" } }), TypeError);
});

// rejectUpgrade

Deno.test("rejectUpgrade answers with the error's status, headers and message as a plain text body", () => {
  let caught: unknown;
  try {
    acceptUpgrade(upgradeRequest({ "sec-websocket-version": "25" }));
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HandshakeError);
  const rejection = rejectUpgrade(caught);
  assert.equal(rejection.status, 426);
  assert.equal(rejection.body, `${caught.message}\n`);
  assert.equal(
    rejection.body,
    'Cannot upgrade to WebSocket: Sec-WebSocket-Version "25" is not supported\n',
  );
  assert.deepEqual(rejection.fields, [
    ["sec-websocket-version", "13"],
    ["content-type", "text/plain; charset=utf-8"],
    ["connection", "close"],
  ]);
});

Deno.test("rejectUpgrade answers a forbidden origin with 403", () => {
  let caught: unknown;
  try {
    acceptUpgrade(fromOrigin("https://evil.example"), { allowedOrigins: ["https://good.example"] });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HandshakeError);
  const rejection = rejectUpgrade(caught);
  assert.equal(rejection.status, 403);
  assert.equal(
    rejection.body,
    "Cannot upgrade to WebSocket: origin https://evil.example is not allowed\n",
  );
  assert.equal(field(rejection.fields, "connection"), "close");
});

Deno.test("rejectUpgrade sends Connection: close once, even when the error had its own Connection", () => {
  const error = new HandshakeError("UPGRADE_REQUIRED", 426, "Upgrade required", {
    headers: { connection: "Upgrade", upgrade: "websocket" },
  });
  const rejection = rejectUpgrade(error);
  // field() asserts that each appears once.
  assert.equal(field(rejection.fields, "connection"), "close");
  assert.equal(field(rejection.fields, "upgrade"), "websocket");
  assert.equal(field(rejection.fields, "content-type"), "text/plain; charset=utf-8");
  assert.deepEqual(rejection.fields.at(-1), ["connection", "close"]);
});

Deno.test("rejectUpgrade replaces the error's own Content-Type and drops its Content-Length", () => {
  const error = new HandshakeError("FULL", 503, "Too many connections", {
    headers: { "content-type": "text/html", "content-length": "999", "retry-after": "5" },
  });
  const rejection = rejectUpgrade(error);
  assert.deepEqual(rejection.fields, [
    ["retry-after", "5"],
    ["content-type", "text/plain; charset=utf-8"],
    ["connection", "close"],
  ]);
  assert.equal(rejection.body, "Too many connections\n");
});
