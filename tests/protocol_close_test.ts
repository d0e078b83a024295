// Copyright 2026 the Duplex authors. MIT license.
// The closing API of Protocol: when the close frame goes out, when the
// transport should close (closeExpected, takeEof), holding the close reply
// (holdCloseReply, closeHeld, releaseClose) and giving up (abort,
// receiveEof). Bytes only: client frames use a fixed mask key.
import assert from "node:assert/strict";
import {
  CloseCode,
  ClosedError,
  encodeClosePayload,
  encodeFrame,
  type Frame,
  Opcode,
  parseClosePayload,
  Protocol,
  type ProtocolEvent,
  ReadyState,
} from "../codec/mod.ts";
import { framesSent } from "./_util.ts";

const MASK = new Uint8Array([1, 2, 3, 4]);

/** A frame as a client sends it, masked with a fixed key. */
function fromClient(opcode: number, payload: Uint8Array | string = ""): Uint8Array {
  return encodeFrame(opcode, payload, { mask: MASK });
}

/** A frame as a server sends it, unmasked. */
function fromServer(opcode: number, payload: Uint8Array | string = ""): Uint8Array {
  return encodeFrame(opcode, payload);
}

/** A client's close frame. */
const clientClose = (code?: number, reason = "") =>
  fromClient(Opcode.Close, encodeClosePayload(code, reason));

/** A server's close frame. */
const serverClose = (code?: number, reason = "") =>
  fromServer(Opcode.Close, encodeClosePayload(code, reason));

/** What a frame is, in a form that compares well: opcode and text payload, or close code. */
function describe(frame: Frame): string {
  if (frame.opcode === Opcode.Close) return `close ${parseClosePayload(frame.payload).code}`;
  const name = { [Opcode.Text]: "text", [Opcode.Pong]: "pong", [Opcode.Ping]: "ping" }[
    frame.opcode as number
  ] ?? `opcode ${frame.opcode}`;
  return `${name} ${new TextDecoder().decode(frame.payload)}`;
}

/** Takes what `protocol` wants to send, decoded as its peer would, described. */
const sent = (protocol: Protocol): string[] => framesSent(protocol).map(describe);

/** Moves everything `from` wants to send into `to`, returning `to`'s events. */
function pipe(from: Protocol, to: Protocol): ProtocolEvent[] {
  return from.dataToSend().flatMap((chunk) => to.receive(chunk.slice()));
}

/** Asserts that `fn` throws a ClosedError with this close code. */
function assertClosed(fn: () => unknown, closeCode: number): void {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ClosedError, `expected a ClosedError, got ${error}`);
    assert.equal(error.closeCode, closeCode);
    return true;
  });
}

// A server receiving the client's close

Deno.test("Protocol server receiving a close emits a clean close event closed by the peer", () => {
  const server = new Protocol({ role: "server" });
  assert.equal(server.closeExpected(), false);
  assert.deepEqual(server.receive(clientClose(1000, "bye")), [
    { type: "close", code: 1000, reason: "bye", wasClean: true, closedByPeer: true },
  ]);
  assert.equal(server.state, ReadyState.CLOSED);
  assert.equal(server.closeExpected(), true);
});

Deno.test("Protocol server echoes the client's close code in the next dataToSend", () => {
  const server = new Protocol({ role: "server" });
  server.receive(clientClose(1001, "going away"));
  const frames = framesSent(server);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.opcode, Opcode.Close);
  assert.equal(parseClosePayload(frames[0]!.payload).code, 1001);
  assert.deepEqual(server.dataToSend(), [], "the echo goes once");
});

Deno.test("Protocol server answers an empty close with an empty close and reports 1005", () => {
  const server = new Protocol({ role: "server" });
  const [event] = server.receive(clientClose());
  assert.ok(event?.type === "close");
  assert.equal(event.code, CloseCode.NoStatusReceived);
  const frames = framesSent(server);
  assert.equal(frames[0]?.opcode, Opcode.Close);
  assert.deepEqual(frames[0].payload, new Uint8Array(0));
});

Deno.test("Protocol server sends a message sent after the peer's close but before dataToSend ahead of the echo", () => {
  // RFC 6455 §5.5.1: an endpoint "MAY delay sending a Close frame until its
  // current message is sent".
  const server = new Protocol({ role: "server" });
  server.receive(clientClose(1000));
  assert.equal(server.canSend, true);
  server.send("last words");
  server.send("and more");
  assert.deepEqual(sent(server), ["text last words", "text and more", "close 1000"]);
});

Deno.test("Protocol server sends the pong owed to a ping that came before the close ahead of the echo", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    new Uint8Array([...fromClient(Opcode.Ping, "?"), ...clientClose(1000)]),
  );
  assert.deepEqual(events.map((event) => event.type), ["ping", "close"]);
  assert.deepEqual(sent(server), ["pong ?", "close 1000"]);
});

Deno.test("Protocol server refuses to send once dataToSend took the echo: canSend false, ClosedError", () => {
  const server = new Protocol({ role: "server" });
  server.receive(clientClose(1000, "bye"));
  server.dataToSend();
  assert.equal(server.canSend, false);
  assertClosed(() => server.send("too late"), 1000);
  assertClosed(() => server.send(new Uint8Array([1])), 1000);
  assertClosed(() => server.ping(), 1000);
  assert.throws(() => server.send("too late"), (error) => (error as ClosedError).reason === "bye");
  assert.deepEqual(server.dataToSend(), [], "nothing is sent after the close frame");
});

Deno.test("Protocol server takeEof is false until dataToSend took the echo, then true exactly once", () => {
  const server = new Protocol({ role: "server" });
  assert.equal(server.takeEof(), false, "open");
  server.receive(clientClose(1000));
  assert.equal(server.takeEof(), false, "the echo is not taken yet");
  assert.equal(server.takeEof(), false, "asking does not use it up");
  server.dataToSend();
  assert.equal(server.takeEof(), true);
  assert.equal(server.takeEof(), false);
  assert.equal(server.takeEof(), false);
});

Deno.test("Protocol server takeEof is false while a message sent before the echo is pending", () => {
  const server = new Protocol({ role: "server" });
  server.receive(clientClose(1000));
  server.send("reply");
  assert.equal(server.takeEof(), false);
  assert.deepEqual(sent(server), ["text reply", "close 1000"]);
  assert.equal(server.takeEof(), true);
});

// A client receiving the server's close

Deno.test("Protocol client receiving a close queues a masked echo but never takes EOF", () => {
  // RFC 6455 §7.1.1: the client waits for the server to close TCP.
  const client = new Protocol({ role: "client" });
  assert.deepEqual(client.receive(serverClose(1000, "done")), [
    { type: "close", code: 1000, reason: "done", wasClean: true, closedByPeer: true },
  ]);
  assert.equal(client.closeExpected(), true);
  assert.equal(client.takeEof(), false);
  const bytes = client.dataToSend();
  assert.equal(bytes.length > 0, true);
  assert.equal(bytes[0]![1]! & 0x80, 0x80, "masked");
  assert.equal(client.takeEof(), false, "after the echo was taken");
  assert.equal(client.canSend, false);
  assertClosed(() => client.send("late"), 1000);
});

Deno.test("Protocol client echo reaches the server as a close with the same code", () => {
  const client = new Protocol({ role: "client" });
  client.receive(serverClose(4000));
  const frames = framesSent(client);
  assert.deepEqual(frames.map(describe), ["close 4000"]);
});

// A client-initiated closing handshake

Deno.test("Protocol client-initiated close: closeExpected at once, EOF on the server only", () => {
  const client = new Protocol({ role: "client" });
  const server = new Protocol({ role: "server" });
  client.close(1000, "done");
  assert.equal(client.closeExpected(), true, "right after close()");
  assert.equal(client.state, ReadyState.CLOSING);
  assert.equal(client.canSend, false);
  assertClosed(() => client.send("late"), 1000);
  assert.equal(server.closeExpected(), false);

  assert.deepEqual(pipe(client, server), [
    { type: "close", code: 1000, reason: "done", wasClean: true, closedByPeer: true },
  ]);
  assert.equal(client.takeEof(), false, "the client has not heard back");
  assert.equal(server.closeExpected(), true);
  assert.equal(server.takeEof(), false, "the server's echo is not taken yet");

  const [closed] = pipe(server, client);
  assert.ok(closed?.type === "close");
  assert.equal(closed.code, 1000);
  assert.equal(closed.wasClean, true);
  assert.equal(closed.closedByPeer, false);
  assert.equal(server.takeEof(), true, "the server closes TCP once its echo was taken");
  assert.equal(server.takeEof(), false);
  assert.equal(client.takeEof(), false, "the client waits for the server's EOF");
  client.dataToSend();
  assert.equal(client.takeEof(), false);
});

Deno.test("Protocol server-initiated close: the server takes EOF once the client's echo arrived", () => {
  const server = new Protocol({ role: "server" });
  const client = new Protocol({ role: "client" });
  server.close(1001);
  assert.equal(server.closeExpected(), true);
  pipe(server, client);
  assert.equal(server.takeEof(), false, "no answer yet");
  const [closed] = pipe(client, server);
  assert.ok(closed?.type === "close");
  assert.equal(closed.closedByPeer, false);
  assert.equal(closed.wasClean, true);
  assert.equal(server.takeEof(), true);
  assert.equal(server.takeEof(), false);
  assert.equal(client.takeEof(), false);
});

Deno.test("Protocol server takeEof waits for its own close frame to be taken when closes cross", () => {
  const server = new Protocol({ role: "server" });
  server.close(1000);
  // The client's close arrives before the server wrote its own.
  const [closed] = server.receive(clientClose(1000));
  assert.ok(closed?.type === "close");
  assert.equal(closed.closedByPeer, false);
  assert.equal(server.takeEof(), false, "the server's close frame is not taken yet");
  assert.deepEqual(sent(server), ["close 1000"]);
  assert.equal(server.takeEof(), true);
});

Deno.test("Protocol close() does nothing once the connection is closing or closed", () => {
  const client = new Protocol({ role: "client" });
  client.close(1000);
  client.close(1001);
  assert.deepEqual(framesSent(client).map(describe), ["close 1000"]);
  const server = new Protocol({ role: "server" });
  server.receive(clientClose(1000));
  server.close(4000);
  assert.deepEqual(sent(server), ["close 1000"]);
});

// Failing the connection

Deno.test("Protocol server failing on an unmasked frame: closeExpected, close 1002 queued, EOF once taken", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(fromServer(Opcode.Text, "unmasked"));
  assert.deepEqual(events.map((event) => event.type), ["error", "close"]);
  const close = events[1]!;
  assert.ok(close.type === "close");
  assert.equal(close.code, CloseCode.ProtocolError);
  assert.equal(close.wasClean, false);
  assert.equal(close.closedByPeer, false);
  assert.equal(server.closeExpected(), true);
  assert.equal(server.takeEof(), false, "the close frame is not taken yet");
  assert.deepEqual(sent(server), ["close 1002"]);
  // RFC 6455 §7.1.7: either side closes the connection after failing it.
  assert.equal(server.takeEof(), true);
  assert.equal(server.takeEof(), false);
});

Deno.test("Protocol client failing on a masked frame takes EOF too, once the close frame is taken", () => {
  const client = new Protocol({ role: "client" });
  const events = client.receive(fromClient(Opcode.Text, "masked"));
  assert.deepEqual(events.map((event) => event.type), ["error", "close"]);
  assert.equal(client.closeExpected(), true);
  assert.equal(client.takeEof(), false);
  assert.deepEqual(framesSent(client).map(describe), ["close 1002"]);
  assert.equal(client.takeEof(), true);
  assert.equal(client.takeEof(), false);
});

Deno.test("Protocol failing sends replies made before dataToSend ahead of the failure's close frame", () => {
  const server = new Protocol({ role: "server" });
  const events = server.receive(
    new Uint8Array([...fromClient(Opcode.Text, "question"), ...fromServer(Opcode.Text, "bad")]),
  );
  assert.deepEqual(events.map((event) => event.type), ["message", "error", "close"]);
  assert.equal(server.canSend, true);
  server.send("answer");
  assert.deepEqual(sent(server), ["text answer", "close 1002"]);
  assert.equal(server.canSend, false);
  assertClosed(() => server.send("later"), 1002);
});

Deno.test("Protocol client failing after its own close takes EOF without a second close frame", () => {
  const client = new Protocol({ role: "client" });
  client.close(1000);
  assert.deepEqual(framesSent(client).map(describe), ["close 1000"]);
  const events = client.receive(fromClient(Opcode.Text, "masked"));
  assert.deepEqual(events.map((event) => event.type), ["error", "close"]);
  assert.deepEqual(client.dataToSend(), []);
  assert.equal(client.takeEof(), true);
});

// Holding the close reply

Deno.test("Protocol holdCloseReply keeps the echo out of dataToSend but lets messages through", () => {
  const server = new Protocol({ role: "server", holdCloseReply: true });
  const [closed] = server.receive(clientClose(1000));
  assert.ok(closed?.type === "close");
  assert.equal(server.closeHeld, true);
  assert.deepEqual(server.dataToSend(), []);
  assert.equal(server.canSend, true);
  server.send("one");
  assert.deepEqual(sent(server), ["text one"]);
  assert.equal(server.closeHeld, true);
  assert.equal(server.canSend, true);
  server.send("two");
  assert.deepEqual(sent(server), ["text two"]);
  assert.equal(server.takeEof(), false, "no EOF while the close is held");
});

Deno.test("Protocol releaseClose lets the held close go last in the next dataToSend", () => {
  const server = new Protocol({ role: "server", holdCloseReply: true });
  server.receive(clientClose(1000));
  server.send("before release");
  server.releaseClose();
  assert.equal(server.closeHeld, false);
  assert.equal(server.canSend, true, "the close is still owed until taken");
  server.send("after release");
  assert.deepEqual(sent(server), ["text before release", "text after release", "close 1000"]);
  assert.equal(server.closeHeld, false);
  assert.equal(server.canSend, false);
  assertClosed(() => server.send("late"), 1000);
  assert.equal(server.takeEof(), true);
  assert.equal(server.takeEof(), false);
});

Deno.test("Protocol holdCloseReply holds a failure's close frame too, until releaseClose", () => {
  const server = new Protocol({ role: "server", holdCloseReply: true });
  const events = server.receive(fromServer(Opcode.Text, "unmasked"));
  assert.deepEqual(events.map((event) => event.type), ["error", "close"]);
  assert.equal(server.closeHeld, true);
  assert.equal(server.closeExpected(), true);
  server.send("sorry");
  assert.deepEqual(sent(server), ["text sorry"]);
  assert.equal(server.takeEof(), false);
  server.releaseClose();
  assert.equal(server.closeHeld, false);
  assert.deepEqual(sent(server), ["close 1002"]);
  assert.equal(server.canSend, false);
  assert.equal(server.takeEof(), true);
});

Deno.test("Protocol holdCloseReply holds a client's echo the same way", () => {
  const client = new Protocol({ role: "client", holdCloseReply: true });
  client.receive(serverClose(1000));
  assert.equal(client.closeHeld, true);
  client.send("reply");
  assert.deepEqual(framesSent(client).map(describe), ["text reply"]);
  client.releaseClose();
  assert.deepEqual(framesSent(client).map(describe), ["close 1000"]);
  assert.equal(client.takeEof(), false);
});

Deno.test("Protocol releaseClose before any close is owed does nothing: a later close is still held", () => {
  const server = new Protocol({ role: "server", holdCloseReply: true });
  server.releaseClose();
  assert.equal(server.closeHeld, false);
  server.receive(clientClose(1000));
  assert.equal(server.closeHeld, true);
  assert.deepEqual(server.dataToSend(), []);
});

Deno.test("Protocol closeHeld is false without holdCloseReply, even while a close is owed", () => {
  const server = new Protocol({ role: "server" });
  assert.equal(server.closeHeld, false);
  server.receive(clientClose(1000));
  assert.equal(server.closeHeld, false);
  assert.equal(server.canSend, true);
  assert.deepEqual(sent(server), ["close 1000"]);
});

Deno.test("Protocol holdCloseReply does not hold a close this end starts", () => {
  const server = new Protocol({ role: "server", holdCloseReply: true });
  server.close(1000);
  assert.equal(server.closeHeld, false);
  assert.deepEqual(sent(server), ["close 1000"]);
});

// Giving up: abort() and receiveEof()

Deno.test("Protocol abort ends an open connection with 1006, not clean, not closed by the peer", () => {
  const server = new Protocol({ role: "server" });
  assert.deepEqual(server.abort(), [
    { type: "close", code: 1006, reason: "", wasClean: false, closedByPeer: false },
  ]);
  assert.equal(server.state, ReadyState.CLOSED);
  assert.deepEqual(server.closeInfo, {
    code: 1006,
    reason: "",
    wasClean: false,
    closedByPeer: false,
  });
  assert.equal(server.closeExpected(), true);
  assert.equal(server.canSend, false);
  assertClosed(() => server.send("late"), 1006);
  assert.deepEqual(server.receive(fromClient(Opcode.Text, "ignored")), []);
});

Deno.test("Protocol abort during the closing handshake still ends with 1006", () => {
  const client = new Protocol({ role: "client" });
  client.close(1000);
  client.dataToSend();
  assert.deepEqual(client.abort(), [
    { type: "close", code: 1006, reason: "", wasClean: false, closedByPeer: false },
  ]);
});

Deno.test("Protocol receiveEof ends an open connection with 1006, closed by the peer", () => {
  const client = new Protocol({ role: "client" });
  assert.deepEqual(client.receiveEof(), [
    { type: "close", code: 1006, reason: "", wasClean: false, closedByPeer: true },
  ]);
  assert.equal(client.state, ReadyState.CLOSED);
  assert.equal(client.closeInfo?.closedByPeer, true);
});

Deno.test("Protocol abort and receiveEof return nothing once the connection is closed", () => {
  const aborted = new Protocol({ role: "server" });
  aborted.abort();
  assert.deepEqual(aborted.abort(), []);
  assert.deepEqual(aborted.receiveEof(), []);

  const ended = new Protocol({ role: "client" });
  ended.receiveEof();
  assert.deepEqual(ended.receiveEof(), []);
  assert.deepEqual(ended.abort(), []);

  const clean = new Protocol({ role: "server" });
  clean.receive(clientClose(1000));
  assert.deepEqual(clean.abort(), []);
  assert.deepEqual(clean.receiveEof(), []);
  assert.equal(clean.closeInfo?.wasClean, true, "the clean close stands");
});
