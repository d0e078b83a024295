// Copyright 2026 the Duplex authors. MIT license.
// Test-time TLS certificates from Web Crypto alone: a minimal DER encoder (ITU-T X.690) and the
// X.509 v3 structures of RFC 5280 that rustls/webpki needs to accept a CA and a server leaf.

/** PEM-encoded certificates and key for a test TLS server. */
export interface TestCertificates {
  /** The self-signed CA certificate, to pass as `caCerts` to the client. */
  caCert: string;
  /** The server (leaf) certificate, signed by `caCert`. */
  cert: string;
  /** The server's private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`). */
  key: string;
}

/** Options for {@linkcode generateTestCertificates}. */
export interface GenerateTestCertificatesOptions {
  /** DNS names for the leaf's subjectAltName. Defaults to `["localhost"]`. */
  hostnames?: string[];
  /** IPv4 or IPv6 addresses for the leaf's subjectAltName. Defaults to `["127.0.0.1", "::1"]`. */
  ips?: string[];
}

/**
 * Generates a throwaway ECDSA P-256 CA and a server certificate signed by it, valid from one
 * hour ago to one day ahead, using only Web Crypto. Meant for tests on loopback: the keys live
 * only in memory and in the returned strings.
 *
 * @param options DNS names and IP addresses the server certificate is valid for.
 * @returns The CA certificate, the server certificate, and the server's PKCS#8 private key, in
 * PEM.
 * @throws {TypeError} If a hostname is not ASCII or an IP address cannot be parsed.
 *
 * @example Serve TLS on loopback
 * ```ts
 * import { generateTestCertificates } from "./_tls.ts";
 * import assert from "node:assert/strict";
 *
 * const { caCert, cert, key } = await generateTestCertificates();
 * assert.match(caCert, /^-----BEGIN CERTIFICATE-----\n/);
 * assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
 * const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
 * listener.close();
 * ```
 */
export async function generateTestCertificates(
  options: GenerateTestCertificatesOptions = {},
): Promise<TestCertificates> {
  const hostnames = options.hostnames ?? ["localhost"];
  const ips = options.ips ?? ["127.0.0.1", "::1"];
  // Validate before generating keys, so misuse fails fast and cheaply.
  const altNames = [
    ...hostnames.map((name) => dnsName(name)),
    ...ips.map((ip) => ipAddress(ip)),
  ];

  const now = Date.now();
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now + 24 * 60 * 60 * 1000);

  const caKeys = await generateKeyPair();
  const leafKeys = await generateKeyPair();
  const caKeyId = await keyIdentifier(caKeys.publicKey);
  const leafKeyId = await keyIdentifier(leafKeys.publicKey);
  // Each CA gets its own subject, so that webpki, which looks issuers up by name before checking
  // signatures, reports a foreign CA as UnknownIssuer rather than as BadSignature.
  const caName = name(`Duplex Test CA ${hex(caKeyId.subarray(0, 8))}`);

  const caCert = await signCertificate({
    issuer: caName,
    subject: caName,
    notBefore,
    notAfter,
    subjectPublicKey: caKeys.publicKey,
    issuerPrivateKey: caKeys.privateKey,
    extensions: [
      // RFC 5280 §4.2.1.9: a CA certificate MUST carry basicConstraints, marked critical, with
      // cA TRUE. No pathLenConstraint: this CA signs only end-entity certificates anyway.
      extension(OID.basicConstraints, true, sequence(boolean(true))),
      // RFC 5280 §4.2.1.3: keyCertSign is required for a CA that signs certificates; the
      // extension SHOULD be critical.
      extension(OID.keyUsage, true, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      // RFC 5280 §4.2.1.2: CAs MUST include subjectKeyIdentifier.
      extension(OID.subjectKeyIdentifier, false, octetString(caKeyId)),
    ],
  });

  const cert = await signCertificate({
    issuer: caName,
    subject: name("Duplex Test Server"),
    notBefore,
    notAfter,
    subjectPublicKey: leafKeys.publicKey,
    issuerPrivateKey: caKeys.privateKey,
    extensions: [
      // RFC 5280 §4.2.1.9: cA is DEFAULT FALSE, and DER omits defaults, so CA:FALSE is the
      // empty SEQUENCE.
      extension(OID.basicConstraints, false, sequence()),
      // RFC 5280 §4.2.1.3: an ECDSA server key is used for signatures only.
      extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature])),
      // RFC 5280 §4.2.1.12: id-kp-serverAuth, TLS WWW server authentication.
      extension(OID.extendedKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
      // RFC 5280 §4.2.1.6: the identities webpki matches against; the subject has a CN, so
      // the extension need not be critical.
      extension(OID.subjectAltName, false, sequence(...altNames)),
      // RFC 5280 §4.2.1.1: AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT
      // KeyIdentifier OPTIONAL, ... }, with the issuer's subjectKeyIdentifier.
      extension(OID.authorityKeyIdentifier, false, sequence(contextPrimitive(0, caKeyId))),
      // RFC 5280 §4.2.1.2: SHOULD be included in end-entity certificates too.
      extension(OID.subjectKeyIdentifier, false, octetString(leafKeyId)),
    ],
  });

  const key = new Uint8Array(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
  return {
    caCert: pem("CERTIFICATE", caCert),
    cert: pem("CERTIFICATE", cert),
    key: pem("PRIVATE KEY", key),
  };
}

// ---------------------------------------------------------------------------------------------
// X.509 (RFC 5280)

type Bytes = Uint8Array<ArrayBuffer>;

/** Dotted object identifiers used below. */
const OID = {
  // RFC 5758 §3.2: ecdsa-with-SHA256; the parameters field MUST be absent.
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  // RFC 5280 §4.1.2.4, X.520: id-at-commonName.
  commonName: "2.5.4.3",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extendedKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

/** RFC 5280 §4.2.1.3: KeyUsage bit positions (bit 0 is the most significant bit). */
const KEY_USAGE = {
  digitalSignature: 0,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

interface CertificateFields {
  issuer: Bytes;
  subject: Bytes;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKey: CryptoKey;
  issuerPrivateKey: CryptoKey;
  extensions: Bytes[];
}

function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
}

/** Builds, signs and DER-encodes one certificate. */
async function signCertificate(fields: CertificateFields): Promise<Bytes> {
  // RFC 5280 §4.1.1.2 and §4.1.2.3: the same AlgorithmIdentifier appears in the TBS and outside.
  const algorithm = sequence(objectIdentifier(OID.ecdsaWithSha256));
  // RFC 5280 §4.1.2.7: exportKey("spki") is exactly the SubjectPublicKeyInfo DER.
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", fields.subjectPublicKey));
  // RFC 5280 §4.1: TBSCertificate, in field order.
  const tbs = sequence(
    // §4.1.2.1: version [0] EXPLICIT, v3 is encoded as 2 (extensions are present).
    contextConstructed(0, integer(new Uint8Array([2]))),
    // §4.1.2.2: a positive integer of at most 20 octets, unique per CA.
    integer(serialNumber()),
    algorithm,
    fields.issuer,
    // §4.1.2.5: Validity ::= SEQUENCE { notBefore, notAfter }.
    sequence(utcTime(fields.notBefore), utcTime(fields.notAfter)),
    fields.subject,
    spki,
    // §4.1.2.9: extensions [3] EXPLICIT SEQUENCE SIZE (1..MAX) OF Extension.
    contextConstructed(3, sequence(...fields.extensions)),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, fields.issuerPrivateKey, tbs),
  );
  // RFC 5280 §4.1.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
  // signatureValue BIT STRING }.
  return sequence(tbs, algorithm, bitString(ecdsaSignatureValue(signature)));
}

/**
 * RFC 5480 §2.2 / RFC 5758 §3.2: X.509 carries an ECDSA signature as
 * `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`, whereas Web Crypto returns the
 * IEEE P1363 form, r||s as two fixed-width big-endian halves.
 */
function ecdsaSignatureValue(raw: Bytes): Bytes {
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

/** RFC 5280 §4.1.2.2: 16 random bytes, with the top bit clear (positive) and the next set (so
 * the integer is exactly 16 octets and never zero). */
function serialNumber(): Bytes {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/**
 * RFC 5280 §4.2.1.2 method (1): the SHA-1 of the subjectPublicKey BIT STRING's value. For an EC
 * key that value is the uncompressed point, which is what exportKey("raw") returns.
 */
async function keyIdentifier(publicKey: CryptoKey): Promise<Bytes> {
  const point = await crypto.subtle.exportKey("raw", publicKey);
  return new Uint8Array(await crypto.subtle.digest("SHA-1", point));
}

/** RFC 5280 §4.1.2.4: a Name holding a single commonName RDN, as a UTF8String. */
function name(commonName: string): Bytes {
  return sequence(
    set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))),
  );
}

/**
 * RFC 5280 §4.1: `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue
 * OCTET STRING }`. DER omits `critical` when it is FALSE; extnValue wraps the value's DER.
 */
function extension(oid: string, critical: boolean, value: Bytes): Bytes {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

/** RFC 5280 §4.2.1.6: GeneralName dNSName [2] IMPLICIT IA5String. */
function dnsName(hostname: string): Bytes {
  // deno-lint-ignore no-control-regex
  if (hostname === "" || !/^[\x00-\x7f]*$/.test(hostname)) {
    throw new TypeError(`Cannot encode hostname: "${hostname}" is not an ASCII DNS name`);
  }
  return contextPrimitive(2, new TextEncoder().encode(hostname));
}

/**
 * RFC 5280 §4.2.1.6: GeneralName iPAddress [7] IMPLICIT OCTET STRING, "four octets" for IPv4
 * and "sixteen octets" for IPv6, in network byte order.
 */
function ipAddress(ip: string): Bytes {
  const bytes = ip.includes(":") ? parseIpv6(ip) : parseIpv4(ip);
  if (bytes === undefined) {
    throw new TypeError(`Cannot encode IP address: "${ip}" is not a valid IPv4 or IPv6 address`);
  }
  return contextPrimitive(7, bytes);
}

/** Dotted-quad IPv4 to 4 bytes, or undefined. */
function parseIpv4(text: string): Bytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

/** RFC 4291 §2.2 text form (with `::` and an optional dotted-quad tail) to 16 bytes. */
function parseIpv6(text: string): Bytes | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string | undefined): number[] | undefined => {
    if (half === undefined || half === "") return [];
    const result: number[] = [];
    const pieces = half.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        result.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        result.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return result;
  };
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  if (head === undefined || tail === undefined) return undefined;
  const compressed = halves.length === 2;
  const missing = 8 - head.length - tail.length;
  if (compressed ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (const [i, group] of all.entries()) {
    bytes[2 * i] = group >>> 8;
    bytes[2 * i + 1] = group & 0xff;
  }
  return bytes;
}

function hex(bytes: Bytes): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** RFC 7468 §2: base64 in lines of 64 characters between BEGIN and END labels. */
function pem(label: string, der: Bytes): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const base64 = btoa(binary);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// DER (ITU-T X.690), just the types a certificate needs

const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  sequence: 0x30,
  set: 0x31,
} as const;

/** X.690 §8.1: identifier octet, length octets, contents. */
function tlv(tag: number, ...contents: Bytes[]): Bytes {
  const length = contents.reduce((sum, part) => sum + part.length, 0);
  const header = [tag, ...encodeLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** X.690 §10.1: DER uses the definite form with the fewest length octets. */
function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return [0x80 | octets.length, ...octets];
}

function sequence(...items: Bytes[]): Bytes {
  return tlv(TAG.sequence, ...items);
}

/** DER requires SET OF elements sorted; every SET here holds a single element. */
function set(item: Bytes): Bytes {
  return tlv(TAG.set, item);
}

/** X.690 §11.1: DER encodes TRUE as 0xff. */
function boolean(value: boolean): Bytes {
  return tlv(TAG.boolean, new Uint8Array([value ? 0xff : 0x00]));
}

/**
 * X.690 §8.3: a non-negative integer from unsigned big-endian bytes, in the fewest octets: drop
 * leading zeros, then prepend one zero octet if the top bit is set so it stays positive.
 */
function integer(unsigned: Bytes): Bytes {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const magnitude = unsigned.subarray(start);
  if (magnitude.length === 0) return tlv(TAG.integer, new Uint8Array([0]));
  return magnitude[0]! & 0x80
    ? tlv(TAG.integer, new Uint8Array([0]), magnitude)
    : tlv(TAG.integer, magnitude);
}

/** X.690 §8.6: the first content octet counts the unused bits in the last octet. */
function bitString(bytes: Bytes, unusedBits = 0): Bytes {
  return tlv(TAG.bitString, new Uint8Array([unusedBits]), bytes);
}

/**
 * X.690 §11.2.2: a named-bit BIT STRING drops trailing zero bits, so the unused-bit count
 * depends on the highest bit set. Bit 0 is the most significant bit of the first octet.
 */
function namedBits(bits: number[]): Bytes {
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (highest & 7));
}

function octetString(bytes: Bytes): Bytes {
  return tlv(TAG.octetString, bytes);
}

function utf8String(text: string): Bytes {
  return tlv(TAG.utf8String, new TextEncoder().encode(text));
}

/**
 * X.690 §8.19: the first two arcs share one subidentifier (40 * first + second); each
 * subidentifier is base 128, most significant group first, with the high bit on all but the last.
 */
function objectIdentifier(dotted: string): Bytes {
  const arcs = dotted.split(".").map(Number);
  const subidentifiers = [40 * arcs[0]! + arcs[1]!, ...arcs.slice(2)];
  const octets: number[] = [];
  for (const value of subidentifiers) {
    const groups = [value % 128];
    for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) {
      groups.unshift(0x80 | (rest % 128));
    }
    octets.push(...groups);
  }
  return tlv(TAG.objectIdentifier, new Uint8Array(octets));
}

/**
 * RFC 5280 §4.1.2.5.1: UTCTime as YYMMDDHHMMSSZ, always in UTC ("Z") and always with seconds.
 * Two-digit years mean 1950–2049; later dates need GeneralizedTime, which we do not encode.
 */
function utcTime(date: Date): Bytes {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) {
    throw new RangeError(`Cannot encode UTCTime: year ${year} is outside 1950-2049`);
  }
  const two = (n: number) => String(n).padStart(2, "0");
  const text = two(year % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate()) +
    two(date.getUTCHours()) + two(date.getUTCMinutes()) + two(date.getUTCSeconds()) + "Z";
  return tlv(TAG.utcTime, new TextEncoder().encode(text));
}

/** X.690 §8.14: a context-specific [n] constructed (EXPLICIT) wrapper. */
function contextConstructed(number: number, inner: Bytes): Bytes {
  return tlv(0xa0 | number, inner);
}

/** A context-specific [n] primitive, for an IMPLICIT tag on a primitive type. */
function contextPrimitive(number: number, contents: Bytes): Bytes {
  return tlv(0x80 | number, contents);
}
