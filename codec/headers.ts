// Copyright 2026 the Duplex authors. MIT license.
/**
 * The header grammar the handshake and the HTTP/1.1 head share (RFC 7230
 * §3.2, RFC 6455 §9.1): tokens, field values, comma-separated lists,
 * field lookups, and the `Sec-WebSocket-Protocol` and
 * `Sec-WebSocket-Extensions` values.
 *
 * This module is browser-compatible.
 *
 * @module
 */

// RFC 7230 §3.2.6: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Returns whether `value` is an RFC 7230 token: the grammar of header names,
 * subprotocol names and extension names and parameters.
 *
 * @param value The string to check.
 * @returns `true` for a non-empty token.
 *
 * @example
 * ```ts
 * import { isToken } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isToken("chat.v2"), true);
 * assert.equal(isToken("chat v2"), false);
 * ```
 */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

// RFC 7230 §3.2: field-value = *( VCHAR / obs-text / SP / HTAB ), trimmed of
// surrounding whitespace. No CR, LF, NUL or other control characters.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Returns whether `value` may be sent as an HTTP header value: no CR, LF or
 * other control characters (which would let a value inject headers), and no
 * characters beyond Latin-1.
 *
 * @param value The value to check.
 * @returns `true` if the value is safe to send.
 *
 * @example
 * ```ts
 * import { isHeaderValue } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isHeaderValue("Bearer abc"), true);
 * assert.equal(isHeaderValue("x\r\nSet-Cookie: a=b"), false);
 * ```
 */
export function isHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

/** Splits a comma-separated header list, skipping empty elements (RFC 7230 §7). */
function splitList(value: string): string[] {
  const items: string[] = [];
  for (const part of value.split(",")) {
    const item = part.trim();
    if (item !== "") items.push(item);
  }
  return items;
}

/** Whether a comma-separated header value holds `token`, case-insensitively. */
export function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  // Item by item, in place: this runs on every handshake.
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(",", start);
    if (end < 0) end = value.length;
    let from = start;
    let to = end;
    while (from < to && isBlank(value.charCodeAt(from))) from++;
    while (to > from && isBlank(value.charCodeAt(to - 1))) to--;
    if (to - from === token.length && sameTokenAt(value, from, token)) return true;
    start = end + 1;
  }
  return false;
}

/** Whether `c` is optional whitespace (RFC 7230 §3.2.3: SP or HTAB). */
export function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether `value` holds the lower-case `token` at `at`, ignoring ASCII case. */
function sameTokenAt(value: string, at: number, token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    let c = value.charCodeAt(at + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== token.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses a `Sec-WebSocket-Protocol` value (RFC 6455 §4.1: a comma-separated
 * list of tokens).
 *
 * @param value The header value, or `null` when absent.
 * @returns The subprotocols, in order.
 * @throws {SyntaxError} If an element is not a token.
 *
 * @example
 * ```ts
 * import { parseProtocols } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseProtocols("chat, superchat"), ["chat", "superchat"]);
 * ```
 */
export function parseProtocols(value: string | null): string[] {
  if (value === null) return [];
  const protocols = splitList(value);
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new SyntaxError(
        `Cannot parse subprotocols: ${JSON.stringify(protocol)} is not a token`,
      );
    }
  }
  return protocols;
}

/**
 * Formats a `Sec-WebSocket-Protocol` value.
 *
 * @param protocols The subprotocols, each a token, none repeated.
 * @returns The header value.
 * @throws {SyntaxError} If a subprotocol is not a token or is repeated (the
 * WHATWG `WebSocket` constructor refuses both).
 *
 * @example
 * ```ts
 * import { formatProtocols } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatProtocols(["chat", "superchat"]), "chat, superchat");
 * ```
 */
export function formatProtocols(protocols: readonly string[]): string {
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new SyntaxError(
        `Cannot format subprotocols: ${JSON.stringify(protocol)} is not a token`,
      );
    }
    if (seen.has(protocol)) {
      throw new SyntaxError(`Cannot format subprotocols: ${JSON.stringify(protocol)} is repeated`);
    }
    seen.add(protocol);
  }
  return protocols.join(", ");
}

/** An extension parameter: a name and a value, or `true` when it has none. */
export type ExtensionParam = [name: string, value: string | true];

/** One extension of a `Sec-WebSocket-Extensions` list. */
export interface Extension {
  /** The extension's name, such as `"permessage-deflate"`. */
  name: string;
  /** Its parameters in order; repeated names are kept as they came. */
  params: ExtensionParam[];
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1): extensions
 * separated by commas, each a token followed by `;`-separated parameters,
 * each a token with an optional `=` value that is a token or a quoted
 * string whose unescaped content is a token.
 *
 * @param value The header value, or `null` when absent.
 * @returns The extensions, in order.
 * @throws {SyntaxError} If the value does not follow the grammar.
 *
 * @example
 * ```ts
 * import { parseExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits="10"'),
 *   [{
 *     name: "permessage-deflate",
 *     params: [["client_max_window_bits", true], ["server_max_window_bits", "10"]],
 *   }],
 * );
 * ```
 */
export function parseExtensions(value: string | null): Extension[] {
  if (value === null) return [];
  const extensions: Extension[] = [];
  let i = 0;
  const n = value.length;
  const fail = (what: string): never => {
    throw new SyntaxError(
      `Cannot parse extensions: ${what} at offset ${i} of ${JSON.stringify(value)}`,
    );
  };
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const readToken = (what: string): string => {
    const start = i;
    while (i < n && TOKEN.test(value[i]!)) i++;
    if (i === start) fail(`expected ${what}`);
    return value.slice(start, i);
  };
  while (true) {
    skipSpace();
    if (i < n && value[i] === ",") {
      // An empty list element.
      i++;
      continue;
    }
    if (i >= n) break;
    const extension: Extension = { name: readToken("an extension name"), params: [] };
    skipSpace();
    while (i < n && value[i] === ";") {
      i++;
      skipSpace();
      const name = readToken("a parameter name");
      skipSpace();
      let paramValue: string | true = true;
      if (i < n && value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          let unescaped = "";
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\") i++;
            if (i >= n) fail("an unterminated quoted string");
            unescaped += value[i++];
          }
          if (i >= n) fail("an unterminated quoted string");
          i++;
          // RFC 6455 §9.1: the unescaped value MUST conform to the token ABNF.
          if (!isToken(unescaped)) fail("a quoted value that is not a token");
          paramValue = unescaped;
        } else {
          paramValue = readToken("a parameter value");
        }
        skipSpace();
      }
      extension.params.push([name, paramValue]);
    }
    extensions.push(extension);
    if (i < n && value[i] !== ",") fail("expected a comma");
    i++;
  }
  return extensions;
}

/**
 * Formats a `Sec-WebSocket-Extensions` value.
 *
 * @param extensions The extensions; names and values must be tokens.
 * @returns The header value.
 * @throws {SyntaxError} If a name or value is not a token.
 *
 * @example
 * ```ts
 * import { formatExtensions } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatExtensions([{ name: "permessage-deflate", params: [["client_max_window_bits", true]] }]),
 *   "permessage-deflate; client_max_window_bits",
 * );
 * ```
 */
export function formatExtensions(extensions: readonly Extension[]): string {
  return extensions.map((extension) => {
    let text = checkToken(extension.name);
    for (const [name, value] of extension.params) {
      text += `; ${checkToken(name)}`;
      if (value !== true) text += `=${checkToken(value)}`;
    }
    return text;
  }).join(", ");
}

function checkToken(value: string): string {
  if (!isToken(value)) {
    throw new SyntaxError(`Cannot format extensions: ${JSON.stringify(value)} is not a token`);
  }
  return value;
}

/**
 * Reads a header from a field list as `Headers.get()` would: every value of
 * the name, case-insensitively, joined with ", "; `null` if absent.
 *
 * @param fields The fields.
 * @param name The header name, in lower case.
 * @returns The value, or `null`.
 *
 * @example
 * ```ts
 * import { fieldValue } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * assert.equal(fieldValue([["Accept", "a"], ["accept", "b"]], "accept"), "a, b");
 * ```
 */
export function fieldValue(
  fields: readonly (readonly [string, string])[],
  name: string,
): string | null {
  let value: string | null = null;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (sameName(field[0], name)) {
      value = value === null ? field[1] : `${value}, ${field[1]}`;
    }
  }
  return value;
}

/** `field.toLowerCase() === lower`, without making a string: lookups run often in a handshake. */
export function sameName(field: string, lower: string): boolean {
  if (field.length !== lower.length) return false;
  for (let i = 0; i < field.length; i++) {
    let c = field.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The name and value pairs of a `HeadersInit`, as given (not combined or lower-cased). */
export function headerEntries(init: HeadersInit | undefined): [string, string][] {
  if (init === undefined) return [];
  if (init instanceof Headers) return [...init];
  if (Array.isArray(init)) {
    return init.map((pair) => {
      if (pair.length !== 2) {
        throw new TypeError("Cannot read headers: a header must be a [name, value] pair");
      }
      return [String(pair[0]), String(pair[1])];
    });
  }
  return Object.entries(init as Record<string, string>).map(([k, v]) => [k, String(v)]);
}
