// Copyright 2026 the Duplex authors. MIT license.
/**
 * The Duplex codec: RFC 6455 WebSocket framing, the opening handshake and
 * the protocol state machine, as Sans-I/O code. It turns bytes into events
 * and calls into bytes, and never touches a socket, a timer or `Deno.*`, so
 * it runs unchanged in Deno, in Node and in a browser bundle.
 *
 * Layers, each usable alone:
 * - frames: {@linkcode encodeFrame}, {@linkcode FrameEncoder},
 *   {@linkcode FrameDecoder}, {@linkcode mask};
 * - messages and closing: {@linkcode Protocol}, {@linkcode encodeClosePayload},
 *   {@linkcode parseClosePayload}, {@linkcode Utf8StreamDecoder};
 * - the opening handshake: {@linkcode buildUpgradeRequest},
 *   {@linkcode validateUpgradeResponse}, {@linkcode validateUpgradeRequest},
 *   {@linkcode buildUpgradeResponse}, {@linkcode acceptKey}, {@linkcode parseUrl};
 * - HTTP/1.1 heads: {@linkcode HttpHeadReader}, {@linkcode parseRequestHead},
 *   {@linkcode parseResponseHead};
 * - permessage-deflate (RFC 7692): {@linkcode negotiateDeflate},
 *   {@linkcode deflateOffer}, {@linkcode acceptDeflateResponse}, and the
 *   {@linkcode MessageCompressor} a platform plugs into a {@linkcode Protocol}.
 *
 * A transport that reads into buffers of its own can hand the rest of a
 * large frame to {@linkcode Protocol.receiveTarget} instead, and have it read
 * straight into the buffer the message will be delivered in.
 *
 * Every protocol violation surfaces as a {@linkcode ProtocolError} carrying
 * the close code to send; every handshake failure as a
 * {@linkcode HandshakeError} carrying the HTTP status.
 *
 * @example A client and a server, with no sockets
 * ```ts
 * import { Protocol } from "@duplex/websocket/codec";
 * import assert from "node:assert/strict";
 *
 * const client = new Protocol({ role: "client" });
 * const server = new Protocol({ role: "server" });
 *
 * client.send("ping?");
 * for (const chunk of client.dataToSend()) {
 *   for (const event of server.receive(chunk)) {
 *     if (event.type === "message") server.send(`${event.data} pong!`);
 *   }
 * }
 * const [reply] = server.dataToSend().flatMap((chunk) => client.receive(chunk));
 * assert.deepEqual(reply, { type: "message", data: "ping? pong!" });
 * ```
 *
 * @module
 */

export {
  ClosedError,
  HandshakeError,
  type HandshakeErrorOptions,
  ProtocolError,
} from "./errors.ts";
export { Keepalive, type KeepaliveAction, type KeepaliveOptions } from "./keepalive.ts";
export { generateMaskKey, mask } from "./mask.ts";
export { PreparedMessage, prepareMessage, type PrepareOptions } from "./prepared.ts";
export { decodeUtf8, encodeUtf8, isValidUtf8, utf8Length, Utf8StreamDecoder } from "./utf8.ts";
export { CloseCode } from "./close_code.ts";
export {
  type ClosePayload,
  encodeClosePayload,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  parseClosePayload,
} from "./close.ts";
export {
  DEFAULT_MAX_FRAGMENTS,
  DEFAULT_MAX_MESSAGE_SIZE,
  encodeFrame,
  type EncodeFrameOptions,
  type Frame,
  FrameEncoder,
  type FrameEncoderOptions,
  type FrameFlags,
  Opcode,
  type Role,
} from "./frame.ts";
export { FrameDecoder, type FrameDecoderOptions, type PartialFrame } from "./frame_decoder.ts";
export {
  type CloseInfo,
  type Message,
  Protocol,
  type ProtocolCompression,
  type ProtocolEvent,
  type ProtocolOptions,
  ReadyState,
  type SendOptions,
} from "./protocol.ts";
export {
  acceptDeflateResponse,
  type CompressionOptions,
  DEFAULT_COMPRESSION_LEVEL,
  DEFAULT_COMPRESSION_THRESHOLD,
  DEFAULT_MEM_LEVEL,
  DEFAULT_TAKEOVER_THRESHOLD,
  DEFAULT_WINDOW_BITS,
  type DeflateAcceptOptions,
  type DeflateAgreement,
  type DeflateEngine,
  deflateOffer,
  type DeflateOfferOptions,
  type DeflaterOptions,
  type DeflateSession,
  type MessageCompressor,
  negotiateDeflate,
  PERMESSAGE_DEFLATE,
  PerMessageDeflate,
  type RawDeflater,
  type RawInflater,
} from "./deflate.ts";
export { Deflater } from "./deflater.ts";
export {
  type AcceptedUpgrade,
  acceptKey,
  acceptKeySync,
  buildUpgradeRequest,
  generateKey,
  parseUrl,
  type UpgradeRequest,
  type UpgradeRequestOptions,
  validateUpgradeResponse,
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
  type WebSocketUrl,
} from "./handshake.ts";
export {
  type AcceptedHandshake,
  acceptUpgrade,
  buildUpgradeResponse,
  type HandshakeRejection,
  type OriginPolicy,
  type ProtocolChoice,
  rejectUpgrade,
  type ServerHandshakeOptions,
  type UpgradeOffer,
  type UpgradeRequestLike,
  type UpgradeResponseOptions,
  validateUpgradeRequest,
} from "./server_handshake.ts";
export {
  type Extension,
  type ExtensionParam,
  fieldValue,
  formatExtensions,
  formatProtocols,
  isHeaderValue,
  isToken,
  parseExtensions,
  parseProtocols,
} from "./headers.ts";
export {
  BodyDecoder,
  type BodyDecoderOptions,
  type BodyFraming,
  bodyFraming,
} from "./http1_body.ts";
export {
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADER_COUNT,
  type HttpHeadLimits,
  HttpHeadReader,
  type HttpHeadReaderOptions,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  serializeRequestHead,
  serializeResponseHead,
} from "./http1.ts";
