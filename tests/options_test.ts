// Copyright 2026 the Duplex authors. MIT license.
// Every entry point refuses a bad option at the call: a RangeError for a bad
// number (negative, NaN, not whole where a count of bytes or frames is
// needed, zero where it must be positive, out of range), a TypeError for a
// wrong type or an unknown enum string, with a message that names the
// option, and before any network activity: connect() dials nothing,
// upgradeWebSocket() answers no 101, acceptWebSocket() writes nothing, serve()
// listens on nothing. Good values, including the documented special ones
// (0 that disables, Infinity for "no limit"), are accepted, so that refusing
// everything cannot pass. Loopback only; every test closes what it opens.
import assert from "node:assert/strict";
import {
  type AcceptOptions,
  acceptWebSocket,
  BodyDecoder,
  type BodyDecoderOptions,
  type BodyFraming,
  type CompressionOptions,
  connect,
  type ConnectOptions,
  type DeflateEngine,
  FrameDecoder,
  type FrameDecoderOptions,
  FrameEncoder,
  type FrameEncoderOptions,
  type HttpHeadLimits,
  HttpHeadReader,
  type HttpHeadReaderOptions,
  Hub,
  type HubOptions,
  Keepalive,
  type KeepaliveOptions,
  type MessageCompressor,
  parseRequestHead,
  parseResponseHead,
  PerMessageDeflate,
  Protocol,
  type ProtocolOptions,
  serve,
  type ServeOptions,
  type Server,
  type UpgradeOptions,
  upgradeWebSocket,
  WebSocket as DuplexWebSocket,
  type WebSocketConnection,
  type WebSocketOptions,
} from "../mod.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// A request that any server can upgrade (RFC 6455 §4.1, the §1.3 key).
const UPGRADE_REQUEST = "GET /options HTTP/1.1\r\n" +
  `Host: ${HOST}\r\n` +
  "Upgrade: websocket\r\n" +
  "Connection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n" +
  "\r\n";

// How long a dial issued just before a refusal takes to reach the listener.
const LINGER_MS = 25;

// ---------------------------------------------------------------------------
// The cases

type ErrorClass = RangeErrorConstructor | TypeErrorConstructor;
type Options = Record<string, unknown>;

/** One bad value of one option, and the error it must be refused with. */
interface BadCase {
  /** The option's path, such as `compression.level`, and its value, for the step's name. */
  label: string;
  /** The options to pass. */
  options: Options;
  /** The class the refusal must be. */
  error: ErrorClass;
  /** The name the message must contain: the last part of the path. */
  name: string;
}

/** A value as a step name shows it. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === 2 ** 53) return "2 ** 53";
  if (typeof value === "object" && value !== null) {
    // Infinity and NaN as themselves, not as null.
    return JSON.stringify(
      value,
      (_, v) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
    );
  }
  return String(value);
}

/**
 * The options with `value` at `path`; `parents` gives the rest of a nested
 * object (such as the `pingInterval` a `keepalive.pongTimeout` needs).
 */
function optionsWith(path: string, value: unknown, parents: Options = {}): Options {
  const parts = path.split(".");
  if (parts.length === 1) return { [path]: value };
  const [parent, child] = parts as [string, string];
  return { [parent]: { ...(parents[parent] as Options | undefined), [child]: value } };
}

function bad(
  path: string,
  values: readonly unknown[],
  error: ErrorClass,
  parents?: Options,
): BadCase[] {
  const name = path.split(".").at(-1)!;
  return values.map((value) => ({
    label: `${path}: ${show(value)}`,
    options: optionsWith(path, value, parents),
    error,
    name,
  }));
}

// A string where a number belongs is a wrong type: a TypeError.
const NOT_A_NUMBER = "1";

/** A count of bytes or frames that must be at least 1 (Infinity aside). */
function positiveWhole(path: string, parents?: Options): BadCase[] {
  return [
    ...bad(path, [0, -1, 1.5, NaN, 2 ** 53], RangeError, parents),
    ...bad(path, [NOT_A_NUMBER], TypeError, parents),
  ];
}

/** A count of bytes that may be 0. */
function nonNegativeWhole(path: string, parents?: Options): BadCase[] {
  return [
    ...bad(path, [-1, 1.5, NaN, 2 ** 53], RangeError, parents),
    ...bad(path, [NOT_A_NUMBER], TypeError, parents),
  ];
}

/**
 * A duration whose docs say nothing of 0 or of fractions: only what is bad
 * under any reading (negative, NaN, a string).
 */
function duration(path: string, parents?: Options): BadCase[] {
  return [
    ...bad(path, [-1, NaN], RangeError, parents),
    ...bad(path, [NOT_A_NUMBER], TypeError, parents),
  ];
}

/** A duration documented as "a positive whole number" (the Keepalive intervals). */
function positiveDuration(path: string, parents?: Options): BadCase[] {
  return [
    ...bad(path, [0, -1, 1.5, NaN], RangeError, parents),
    ...bad(path, [NOT_A_NUMBER], TypeError, parents),
  ];
}

/** A limit whose docs say nothing of 0: negative, fractional, NaN, a string. */
function limitMaybeZero(path: string): BadCase[] {
  return [...bad(path, [-1, 1.5, NaN], RangeError), ...bad(path, [NOT_A_NUMBER], TypeError)];
}

const KEEPALIVE_PARENT: Options = { keepalive: { pingInterval: 60_000 } };

/** `clock`: an object with now(), setTimeout() and clearTimeout(). */
const CLOCK_CASES: BadCase[] = bad("clock", [
  {},
  5,
  "system",
  null,
  { now: () => 0, setTimeout: () => 1 },
  { now: 0, setTimeout: () => 1, clearTimeout: () => {} },
], TypeError);

/**
 * `CompressionOptions`, under `prefix` (`"compression."` in connection
 * options): threshold ≥ 0; level and memLevel 1 to 9; the windows 8 to 15
 * (clientMaxWindowBits may also be a boolean); the takeover switches
 * booleans; maxTakeoverContexts ≥ 0.
 */
function compressionCases(prefix: string): BadCase[] {
  return [
    ...nonNegativeWhole(`${prefix}threshold`),
    ...bad(`${prefix}level`, [0, -1, 10, 42, 1.5, NaN], RangeError),
    ...bad(`${prefix}level`, [NOT_A_NUMBER], TypeError),
    ...bad(`${prefix}memLevel`, [0, 10, 1.5], RangeError),
    ...bad(`${prefix}memLevel`, ["5"], TypeError),
    ...bad(`${prefix}serverMaxWindowBits`, [7, 16], RangeError),
    ...bad(`${prefix}serverMaxWindowBits`, ["12"], TypeError),
    ...bad(`${prefix}clientMaxWindowBits`, [7, 16], RangeError),
    ...bad(`${prefix}clientMaxWindowBits`, ["x"], TypeError),
    ...bad(`${prefix}serverNoContextTakeover`, ["yes"], TypeError),
    ...bad(`${prefix}clientNoContextTakeover`, [1], TypeError),
    ...bad(`${prefix}maxTakeoverContexts`, [-1, 1.5], RangeError),
  ];
}

/** `compression`: a boolean or a `CompressionOptions`. */
const COMPRESSION_CASES: BadCase[] = [
  ...bad("compression", ["yes", 1], TypeError),
  ...compressionCases("compression."),
];

/** `ConnectionOptions` except `keepalive`: what the hub passes on to every upgrade. */
const LIMIT_CASES: BadCase[] = [
  ...positiveWhole("maxMessageSize"),
  ...positiveWhole("maxFragments"),
  ...positiveWhole("fragmentSize"),
  ...duration("closeTimeout"),
  // "`0` makes every `send()` wait for its write."
  ...nonNegativeWhole("highWaterMark"),
  // 0 would stop reading for good: nothing is ever queued below it.
  ...positiveWhole("receiveHighWaterMark"),
  ...COMPRESSION_CASES,
  ...CLOCK_CASES,
];

/** `ConnectionOptions`: shared by every connection, client or server. */
const CONNECTION_CASES: BadCase[] = [
  ...LIMIT_CASES,
  ...bad("keepalive", [30_000, "30s"], TypeError),
  ...positiveDuration("keepalive.pingInterval"),
  ...positiveDuration("keepalive.pongTimeout", KEEPALIVE_PARENT),
];

/** `ConnectOptions`, for connect() and the WebSocket constructor. */
const CONNECT_CASES: BadCase[] = [
  ...CONNECTION_CASES,
  ...duration("handshakeTimeout"),
  ...positiveWhole("maxHeadSize"),
  ...bad("userAgent", ["a\nb", 5, null], TypeError),
  ...nonNegativeWhole("followRedirects"),
];

/** `UpgradeOptions`: `idleTimeout` is in seconds, and "`0` disables it". */
const UPGRADE_CASES: BadCase[] = [...CONNECTION_CASES, ...duration("idleTimeout")];

/** `AcceptOptions`. */
const ACCEPT_CASES: BadCase[] = [
  ...UPGRADE_CASES,
  ...duration("requestTimeout"),
  ...positiveWhole("maxHeadSize"),
];

/** `ServeOptions`. */
const SERVE_CASES: BadCase[] = [
  ...bad("port", [-1, 65536, 1.5, NaN], RangeError),
  // Not "8000": Deno.listen would coerce it and take a port someone may use.
  ...bad("port", ["0"], TypeError),
  ...duration("requestTimeout"),
  ...duration("keepAliveTimeout"),
  ...positiveWhole("maxHeadSize"),
  ...limitMaybeZero("maxHeaderCount"),
  ...positiveWhole("maxRequestLineLength"),
  ...nonNegativeWhole("maxBodySize"),
  ...CLOCK_CASES,
];

/** `HubOptions`: the hub's own, and the upgrade options it passes on. */
const HUB_CASES: BadCase[] = [
  ...limitMaybeZero("maxConnections"),
  // "`0` disables keepalive": only negative, fractional, NaN and strings are bad.
  ...bad("pingInterval", [-5, -1, 1.5, NaN], RangeError),
  ...bad("pingInterval", [NOT_A_NUMBER], TypeError),
  ...positiveDuration("pongTimeout"),
  ...limitMaybeZero("maxBackpressure"),
  ...duration("backpressureGrace"),
  ...bad("backpressure", ["bogus", "", "Close", 1], TypeError),
  ...LIMIT_CASES,
];

const ROLE_CASES: BadCase[] = bad("role", ["bogus", "Client", undefined, 1], TypeError);

// A compressor and an engine that are never called: the cases only construct.
const NO_COMPRESSOR: MessageCompressor = {
  compress: (data) => data,
  decompress: (data) => data,
};
const NO_STREAM = {
  deflate: (data: Uint8Array) => data,
  inflate: (data: Uint8Array) => data,
  reset() {},
  close() {},
};
const NO_ENGINE: DeflateEngine = { deflater: () => NO_STREAM, inflater: () => NO_STREAM };

const PROTOCOL_CASES: BadCase[] = [
  ...ROLE_CASES,
  ...positiveWhole("maxMessageSize"),
  ...positiveWhole("maxFragments"),
  ...positiveWhole("fragmentSize"),
  ...nonNegativeWhole("compression.threshold", { compression: { compressor: NO_COMPRESSOR } }),
];

const FRAME_DECODER_CASES: BadCase[] = [
  ...ROLE_CASES,
  ...positiveWhole("maxMessageSize"),
  ...positiveWhole("maxFrameSize"),
  ...positiveWhole("maxFragments"),
];

// maxHeaderCount: "The most header fields; more is a 431" says nothing of 0.
const HEADER_COUNT_CASES: BadCase[] = limitMaybeZero("maxHeaderCount");

const HEAD_READER_CASES: BadCase[] = [
  ...positiveWhole("maxHeadSize"),
  ...positiveWhole("maxStartLineLength"),
  ...HEADER_COUNT_CASES,
  ...bad("message", ["bogus", "Request", 1], TypeError),
];

const BODY_DECODER_CASES: BadCase[] = [
  ...nonNegativeWhole("maxSize"),
  ...bad("overflow", ["bogus", "Truncate", 1], TypeError),
];

/** The first argument of BodyDecoder: its `kind`, and a `length` for `"length"`. */
const BODY_FRAMING_CASES: BadCase[] = [
  ...bad("kind", ["bogus", undefined], TypeError),
  ...[
    ...bad("length", [-1, 1.5, NaN, 2 ** 53], RangeError),
    ...bad("length", [NOT_A_NUMBER], TypeError),
  ].map((c) => ({ ...c, options: { kind: "length", ...c.options } })),
];

const KEEPALIVE_CASES: BadCase[] = [
  ...positiveDuration("pingInterval"),
  ...positiveDuration("pongTimeout").map((c) => ({
    ...c,
    options: { pingInterval: 1000, ...c.options },
  })),
];

const DEFLATE_CASES: BadCase[] = compressionCases("");

// ---------------------------------------------------------------------------
// Helpers

function describe(error: unknown): string {
  if (error instanceof Error || error instanceof DOMException) {
    return `${error.constructor.name} (${error.name}): ${error.message}`;
  }
  return `a non-error: ${String(error)}`;
}

/**
 * A validation function for `assert.throws` and `assert.rejects`: `error` is
 * an instance of `expected` whose message names `name`.
 */
function refusal(expected: ErrorClass, name: string): (error: unknown) => true {
  return (error) => {
    assert.ok(
      error instanceof expected,
      `expected a ${expected.name} naming ${name}, got ${describe(error)}`,
    );
    assert.match(
      error.message,
      new RegExp(`\\b${name}\\b`),
      `the ${expected.name} should name ${name}: ${error.message}`,
    );
    return true;
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or `undefined` if it takes longer than `ms`; leaves no timer behind. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(closable: { close(): void } | undefined): void {
  try {
    closable?.close();
  } catch {
    // Closed already.
  }
}

/**
 * Runs `body` with the URL of a loopback listener, then asserts that nothing
 * dialed it. Whatever does connect is closed at once, so a handshake that
 * should never have started ends quickly.
 */
async function assertNoDial(body: (url: string) => Promise<void>): Promise<void> {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  let dialed = 0;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        dialed++;
        closeQuietly(conn);
      }
    } catch {
      // The listener closed.
    }
  })();
  let failure: unknown;
  try {
    await body(`ws://${HOST}:${listener.addr.port}/options`);
  } catch (error) {
    failure = error;
  }
  await delay(LINGER_MS);
  listener.close();
  await accepting;
  assert.equal(dialed, 0, "the call opened a TCP connection before refusing its options");
  if (failure !== undefined) throw failure;
}

/** Reads from `conn` until the peer closes or `until` matches; never throws. */
async function readText(conn: Deno.Conn, until?: RegExp): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (until === undefined || !until.test(text)) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/** Sends the upgrade request to `port` and returns the status line of the answer. */
async function upgradeStatus(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    await conn.write(encoder.encode(UPGRADE_REQUEST));
    const text = await readText(conn, /\r\n\r\n/);
    return text.slice(0, text.indexOf("\r\n"));
  } finally {
    closeQuietly(conn);
  }
}

/** What a handler's upgradeWebSocket() call did. */
type UpgradeOutcome = { threw: true; error: unknown } | { threw: false };

/**
 * Calls upgradeWebSocket(request, options) in a handler, on Duplex's own
 * server or on Deno.serve, for one upgrade request; a refusal is answered
 * 400. Returns what the call did and the status line the client saw.
 */
async function upgradeIn(
  server: "duplex" | "deno",
  options: UpgradeOptions,
): Promise<{ outcome: UpgradeOutcome | undefined; status: string }> {
  let outcome: UpgradeOutcome | undefined;
  let socketClosed: Promise<unknown> = Promise.resolve();
  const handler = (request: Request): Response => {
    try {
      const { response, connection } = upgradeWebSocket(request, options);
      outcome = { threw: false };
      // The client hangs up once it has the status line; wait for that here.
      socketClosed = connection.closed;
      return response;
    } catch (error) {
      outcome = { threw: true, error };
      return new Response("refused\n", { status: 400, headers: { connection: "close" } });
    }
  };
  const running: Server | Deno.HttpServer<Deno.NetAddr> = server === "duplex"
    ? serve({ hostname: HOST, port: 0, onListen() {} }, handler)
    : Deno.serve({ hostname: HOST, port: 0, onListen() {} }, handler);
  try {
    const status = await upgradeStatus(running.addr.port);
    await within(socketClosed, 300);
    return { outcome, status };
  } finally {
    // A connection that a bad option broke after the 101 may never end, and
    // the shutdown that waits for it with it: bounded, the step fails anyway.
    await within(running.shutdown(), 500);
  }
}

/** The cases as steps of `t`, each with `run`. */
async function eachCase(
  t: Deno.TestContext,
  cases: readonly BadCase[],
  run: (c: BadCase) => void | Promise<void>,
): Promise<void> {
  for (const c of cases) {
    await t.step(`${c.label} → ${c.error.name}`, () => run(c));
  }
}

// ---------------------------------------------------------------------------
// The client: connect() and the WebSocket constructor

Deno.test("connect refuses every bad option with a RangeError or TypeError naming it, before dialing", async (t) => {
  await eachCase(t, CONNECT_CASES, (c) =>
    assertNoDial(async (url) => {
      await assert.rejects(
        connect(url, c.options as ConnectOptions),
        refusal(c.error, c.name),
      );
    }));
});

Deno.test("connect refuses a bad option aimed at a port nothing listens on with the option's error, not a connection error", async () => {
  // A free port: taken, then let go.
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    connect(`ws://${HOST}:${port}/`, { maxMessageSize: -1 }),
    refusal(RangeError, "maxMessageSize"),
  );
  await assert.rejects(
    connect(`ws://${HOST}:${port}/`, { handshakeTimeout: NaN }),
    refusal(RangeError, "handshakeTimeout"),
  );
});

// The same errors as connect(), not DOMExceptions: the WHATWG constructor's
// SyntaxError is for the URL and the subprotocols, which the standard defines.
Deno.test("the WebSocket constructor refuses every bad option at the call, naming it, before dialing", async (t) => {
  await eachCase(t, CONNECT_CASES, (c) =>
    assertNoDial(async (url) => {
      let socket: DuplexWebSocket | undefined;
      try {
        assert.throws(() => {
          socket = new DuplexWebSocket(url, c.options as WebSocketOptions);
        }, refusal(c.error, c.name));
      } finally {
        // Made after all: it is dialing the listener, which hangs up on it.
        if (socket !== undefined) await socket.connection.closed;
      }
    }));
});

// Good values, documented special ones included, for connect(), the
// WebSocket constructor and upgradeWebSocket() on Duplex's own server.
const GOOD_CONNECT_OPTIONS: WebSocketOptions[] = [
  {
    maxMessageSize: 1,
    maxFragments: 1,
    fragmentSize: 1,
    highWaterMark: 0,
    receiveHighWaterMark: 1,
    closeTimeout: 1_000,
    handshakeTimeout: 5_000,
    maxHeadSize: 1_024,
  },
  { keepalive: { pingInterval: 60_000, pongTimeout: 1 } },
  { keepalive: { pingInterval: 1 } },
  { compression: { threshold: 0, level: 9 } },
  { compression: { level: 1 } },
  { compression: { memLevel: 1, serverMaxWindowBits: 8, clientMaxWindowBits: 15 } },
  {
    compression: {
      memLevel: 9,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 8,
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      maxTakeoverContexts: 0,
    },
  },
  { compression: { clientMaxWindowBits: false, maxTakeoverContexts: Infinity } },
  { compression: { clientMaxWindowBits: true, clientNoContextTakeover: true } },
  { compression: true },
  { compression: false },
];

Deno.test("connect and the WebSocket constructor accept good values: 0 where documented, the bounds of level, memLevel and the windows", async (t) => {
  const server = serve({ hostname: HOST, port: 0, onListen() {} }, (request) => {
    const { response, connection } = upgradeWebSocket(request);
    connection.listen({});
    return response;
  });
  const url = `ws://${HOST}:${server.addr.port}/`;
  try {
    for (const options of GOOD_CONNECT_OPTIONS) {
      await t.step(`connect ${show(options)}`, async () => {
        const client = await connect(url, options);
        await client.close();
      });
      await t.step(`new WebSocket ${show(options)}`, async () => {
        const socket = new DuplexWebSocket(url, options);
        await socket.connection.opened;
        socket.close();
        await socket.connection.closed;
      });
    }
  } finally {
    await server.shutdown();
  }
});

// ---------------------------------------------------------------------------
// The server: upgradeWebSocket(), acceptWebSocket(), serve()

Deno.test("upgradeWebSocket on Duplex's server refuses every bad option at the call, naming it, and answers no 101", async (t) => {
  await eachCase(t, UPGRADE_CASES, async (c) => {
    const { outcome, status } = await upgradeIn("duplex", c.options as UpgradeOptions);
    assert.ok(outcome !== undefined, "the handler was not called");
    assert.ok(outcome.threw, `upgradeWebSocket() accepted it; the client saw ${status}`);
    refusal(c.error, c.name)(outcome.error);
    assert.match(status, /^HTTP\/1\.1 400 /);
  });
});

// Deno's socket has no receive backpressure: receiveHighWaterMark is refused
// there whatever its value, so it has no bad-value cases of its own.
// The same holds for clock: Deno's socket keeps its own time.
const NATIVE_UPGRADE_CASES = UPGRADE_CASES.filter((c) =>
  c.name !== "receiveHighWaterMark" && c.name !== "clock"
);

Deno.test("upgradeWebSocket on Deno.serve refuses every bad option at the call, naming it, and answers no 101", async (t) => {
  await eachCase(t, NATIVE_UPGRADE_CASES, async (c) => {
    const { outcome, status } = await upgradeIn("deno", c.options as UpgradeOptions);
    assert.ok(outcome !== undefined, "the handler was not called");
    assert.ok(outcome.threw, `upgradeWebSocket() accepted it; the client saw ${status}`);
    refusal(c.error, c.name)(outcome.error);
    assert.match(status, /^HTTP\/1\.1 400 /);
  });
});

Deno.test("upgradeWebSocket accepts good values on both servers: idleTimeout 0, highWaterMark 0, threshold 0", async (t) => {
  const good: UpgradeOptions[] = [
    { idleTimeout: 0, highWaterMark: 0, maxMessageSize: 1, closeTimeout: 1_000 },
    { idleTimeout: 60, maxFragments: 1, fragmentSize: 1 },
    { compression: { threshold: 0, level: 9 }, receiveHighWaterMark: 1 },
    { compression: { memLevel: 1, serverMaxWindowBits: 8, clientMaxWindowBits: 8 } },
    { compression: { serverNoContextTakeover: true, maxTakeoverContexts: 0 } },
    { keepalive: { pingInterval: 60_000 } },
  ];
  for (const options of good) {
    await t.step(`Duplex's server ${show(options)}`, async () => {
      const { outcome, status } = await upgradeIn("duplex", options);
      assert.deepEqual(
        outcome,
        { threw: false },
        `refused: ${describe((outcome as { error?: unknown })?.error)}`,
      );
      assert.match(status, /^HTTP\/1\.1 101 /);
    });
    if (options.receiveHighWaterMark !== undefined) continue;
    await t.step(`Deno.serve ${show(options)}`, async () => {
      const { outcome, status } = await upgradeIn("deno", options);
      assert.deepEqual(
        outcome,
        { threw: false },
        `refused: ${describe((outcome as { error?: unknown })?.error)}`,
      );
      assert.match(status, /^HTTP\/1\.1 101 /);
    });
  }
});

/**
 * Calls acceptWebSocket(conn, options) on a loopback connection whose client
 * has already sent a valid upgrade request. Returns how the call settled and
 * every byte the client received from it.
 */
async function acceptWith(
  options: AcceptOptions,
): Promise<{ result: { connection: WebSocketConnection } | { error: unknown }; received: string }> {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const client = await Deno.connect({ hostname: HOST, port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  try {
    await client.write(encoder.encode(UPGRADE_REQUEST));
    const attempt = acceptWebSocket(conn, options).then(
      (connection) => ({ connection }),
      (error: unknown) => ({ error }),
    );
    let result = await within(attempt, 1_000);
    if (result === undefined) {
      // Still waiting (on a timeout that a bad value broke): hang up.
      client.closeWrite();
      result = await attempt;
    }
    if ("connection" in result) {
      result.connection.terminate();
      await result.connection.closed;
    }
    closeQuietly(conn);
    return { result, received: await readText(client) };
  } finally {
    closeQuietly(conn);
    closeQuietly(client);
  }
}

Deno.test("acceptWebSocket refuses every bad option at the call, naming it, and writes nothing", async (t) => {
  await eachCase(t, ACCEPT_CASES, async (c) => {
    const { result, received } = await acceptWith(c.options as AcceptOptions);
    assert.ok("error" in result, "acceptWebSocket() accepted it and opened the connection");
    refusal(c.error, c.name)(result.error);
    assert.equal(received, "", "acceptWebSocket() wrote to the connection before refusing");
  });
});

Deno.test("acceptWebSocket accepts good values: idleTimeout 0, highWaterMark 0", async (t) => {
  const good: AcceptOptions[] = [
    { requestTimeout: 1_000, maxHeadSize: 1_024, idleTimeout: 0, highWaterMark: 0 },
    { maxMessageSize: 1, receiveHighWaterMark: 1, compression: { threshold: 0 } },
  ];
  for (const options of good) {
    await t.step(show(options), async () => {
      const { result, received } = await acceptWith(options);
      assert.ok(
        "connection" in result,
        `refused: ${describe((result as { error: unknown }).error)}`,
      );
      assert.match(received, /^HTTP\/1\.1 101 /);
    });
  }
});

Deno.test("serve refuses every bad option at the call, naming it, before listening", async (t) => {
  await eachCase(t, SERVE_CASES, async (c) => {
    let listening = false;
    let server: Server | undefined;
    try {
      assert.throws(() => {
        server = serve(
          {
            hostname: HOST,
            port: 0,
            onListen() {
              listening = true;
            },
            ...c.options,
          } as ServeOptions,
          () => new Response("ok"),
        );
      }, refusal(c.error, c.name));
      assert.equal(listening, false, "serve() listened before refusing its options");
    } finally {
      await server?.shutdown();
    }
  });
});

Deno.test("serve accepts good values: port 0, maxBodySize 0", async (t) => {
  const good: ServeOptions[] = [
    { port: 0, maxBodySize: 0, maxHeadSize: 1, maxRequestLineLength: 1, maxHeaderCount: 1 },
    { port: 0, requestTimeout: 1, keepAliveTimeout: 1, maxBodySize: 2 ** 20 },
  ];
  for (const options of good) {
    await t.step(show(options), async () => {
      const server = serve({ hostname: HOST, onListen() {}, ...options }, () => new Response("ok"));
      await server.shutdown();
    });
  }
});

// ---------------------------------------------------------------------------
// The hub

Deno.test("new Hub refuses every bad option, its own and those it passes to upgrades, naming it", async (t) => {
  await eachCase(t, HUB_CASES, (c) => {
    assert.throws(() => new Hub(c.options as HubOptions<unknown>), refusal(c.error, c.name));
  });
});

Deno.test("new Hub accepts good values: pingInterval 0 (no keepalive), both policies, no limit", async (t) => {
  const good: HubOptions<unknown>[] = [
    { pingInterval: 0 },
    { pingInterval: 1, pongTimeout: 1 },
    { maxConnections: 1, maxBackpressure: 1, backpressure: "drop" },
    { maxConnections: Infinity, backpressure: "close" },
    { maxMessageSize: 1, highWaterMark: 0, compression: { threshold: 0, level: 9 } },
    { compression: { memLevel: 9, serverMaxWindowBits: 15, clientMaxWindowBits: true } },
  ];
  for (const options of good) {
    await t.step(show(options), () => {
      new Hub(options);
    });
  }
});

// ---------------------------------------------------------------------------
// The codec's constructors

Deno.test("new Protocol refuses a bad role with a TypeError and bad limits with a RangeError, naming them", async (t) => {
  await eachCase(t, PROTOCOL_CASES, (c) => {
    assert.throws(
      () => new Protocol({ role: "client", ...c.options } as ProtocolOptions),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts good values: both roles, 1, Infinity, threshold 0, undefined", () => {
    new Protocol({ role: "client", maxMessageSize: 1, maxFragments: 1, fragmentSize: 1 });
    new Protocol({ role: "server", fragmentSize: Infinity, maxMessageSize: Infinity });
    new Protocol({ role: "server", compression: { compressor: NO_COMPRESSOR, threshold: 0 } });
    new Protocol({ role: "client", maxMessageSize: undefined, fragmentSize: undefined });
  });
});

Deno.test("new FrameDecoder refuses a bad role with a TypeError and bad limits with a RangeError, naming them", async (t) => {
  await eachCase(t, FRAME_DECODER_CASES, (c) => {
    assert.throws(
      () => new FrameDecoder({ role: "server", ...c.options } as FrameDecoderOptions),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts good values: 1 and Infinity", () => {
    new FrameDecoder({ role: "server", maxMessageSize: 1, maxFrameSize: 1, maxFragments: 1 });
    new FrameDecoder({ role: "client", maxMessageSize: Infinity, maxFragments: Infinity });
  });
});

Deno.test("new FrameEncoder refuses a bad role with a TypeError naming it", async (t) => {
  await eachCase(t, ROLE_CASES, (c) => {
    assert.throws(
      () => new FrameEncoder(c.options as unknown as FrameEncoderOptions),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts both roles", () => {
    new FrameEncoder({ role: "client" });
    new FrameEncoder({ role: "server" });
  });
});

Deno.test("new HttpHeadReader refuses bad limits and an unknown message kind, naming them", async (t) => {
  await eachCase(t, HEAD_READER_CASES, (c) => {
    assert.throws(
      () => new HttpHeadReader(c.options as HttpHeadReaderOptions),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts good values: 1, both message kinds", () => {
    new HttpHeadReader({ maxHeadSize: 1, maxStartLineLength: 1, maxHeaderCount: 1 });
    new HttpHeadReader({ message: "request" });
    new HttpHeadReader({ message: "response" });
  });
});

// Of the HttpHeadLimits, the parse functions use maxHeaderCount only.
Deno.test("parseRequestHead and parseResponseHead refuse a bad maxHeaderCount, naming it", async (t) => {
  const request = encoder.encode(UPGRADE_REQUEST);
  const response = encoder.encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  await eachCase(t, HEADER_COUNT_CASES, (c) => {
    assert.throws(
      () => parseRequestHead(request, c.options as HttpHeadLimits),
      refusal(c.error, c.name),
    );
    assert.throws(
      () => parseResponseHead(response, c.options as HttpHeadLimits),
      refusal(c.error, c.name),
    );
  });
  await t.step("accept good values", () => {
    parseRequestHead(request, { maxHeaderCount: 100, maxHeadSize: 8_192 });
    parseResponseHead(response, { maxHeaderCount: 1 });
  });
});

Deno.test("new BodyDecoder refuses a bad size limit, overflow policy or framing, naming it", async (t) => {
  await eachCase(t, BODY_DECODER_CASES, (c) => {
    assert.throws(
      () => new BodyDecoder({ kind: "chunked" }, c.options as BodyDecoderOptions),
      refusal(c.error, c.name),
    );
  });
  await eachCase(t, BODY_FRAMING_CASES, (c) => {
    assert.throws(
      () => new BodyDecoder(c.options as unknown as BodyFraming),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts good values: maxSize 0 and Infinity, both policies, length 0", () => {
    new BodyDecoder({ kind: "none" }, { maxSize: 0 });
    new BodyDecoder({ kind: "chunked" }, { maxSize: Infinity, overflow: "truncate" });
    new BodyDecoder({ kind: "length", length: 0 }, { overflow: "error" });
    new BodyDecoder({ kind: "close" }, { maxSize: 1 });
  });
});

Deno.test("new Keepalive refuses intervals that are not positive whole numbers, naming them", async (t) => {
  await eachCase(t, KEEPALIVE_CASES, (c) => {
    assert.throws(
      () => new Keepalive(c.options as unknown as KeepaliveOptions, 0),
      refusal(c.error, c.name),
    );
  });
  await t.step("accepts good values: 1", () => {
    new Keepalive({ pingInterval: 1, pongTimeout: 1 }, 0);
    new Keepalive({ pingInterval: 30_000 }, 0);
  });
});

Deno.test("new PerMessageDeflate refuses a bad threshold, level, memLevel, window or takeover option, naming it", async (t) => {
  await eachCase(t, DEFLATE_CASES, (c) => {
    assert.throws(
      () => new PerMessageDeflate(NO_ENGINE, c.options as CompressionOptions),
      refusal(c.error, c.name),
    );
  });
  await t.step(
    "accepts good values: threshold 0, the bounds of level, memLevel and the windows",
    () => {
      new PerMessageDeflate(NO_ENGINE, { threshold: 0, level: 1, memLevel: 1 });
      new PerMessageDeflate(NO_ENGINE, { threshold: 2 ** 20, level: 9, memLevel: 9 });
      new PerMessageDeflate(NO_ENGINE, { serverMaxWindowBits: 8, clientMaxWindowBits: 15 });
      new PerMessageDeflate(NO_ENGINE, { serverMaxWindowBits: 15, clientMaxWindowBits: 8 });
      new PerMessageDeflate(NO_ENGINE, { clientMaxWindowBits: true, maxTakeoverContexts: 0 });
      new PerMessageDeflate(NO_ENGINE, {
        clientMaxWindowBits: false,
        serverNoContextTakeover: true,
        clientNoContextTakeover: false,
        maxTakeoverContexts: Infinity,
      });
    },
  );
});
