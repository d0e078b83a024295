// Copyright 2026 the Duplex authors. MIT license.
// An in-memory transport for the testing kit: two Deno.Conn ends joined
// by byte queues, and a Deno.Listener that hands out the server ends. The
// connections above them (handshake, codec, socket driver) are the real
// ones; only the socket is replaced. No ops, no ports, no timers: the
// sanitizers see nothing. Internal.

// What one end buffers before its peer's writes wait, as a kernel's socket
// buffers would: the driver's backpressure and the hub's slow-consumer
// policy then behave as over TCP.
const CAPACITY = 256 * 1024;

let nextPort = 1;

function memoryAddr(port: number): Deno.NetAddr {
  return { transport: "tcp", hostname: "memory", port };
}

/** The bytes travelling one way, with the reader's and the writer's waits. */
class Pipe {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  // The writer closed its side (FIN): reads end with null once drained.
  ended = false;
  // The reader closed: writes fail.
  broken = false;
  #readable: PromiseWithResolvers<void> | null = null;
  #writable: PromiseWithResolvers<void> | null = null;

  wakeReader(): void {
    this.#readable?.resolve();
    this.#readable = null;
  }

  wakeWriter(): void {
    this.#writable?.resolve();
    this.#writable = null;
  }

  untilReadable(): Promise<void> {
    return (this.#readable ??= Promise.withResolvers()).promise;
  }

  untilWritable(): Promise<void> {
    return (this.#writable ??= Promise.withResolvers()).promise;
  }
}

/** One end of an in-memory connection. */
export class MemoryConn implements Deno.Conn<Deno.NetAddr> {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  readonly #in: Pipe;
  readonly #out: Pipe;
  #closed = false;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  constructor(incoming: Pipe, outgoing: Pipe, local: Deno.NetAddr, remote: Deno.NetAddr) {
    this.#in = incoming;
    this.#out = outgoing;
    this.localAddr = local;
    this.remoteAddr = remote;
  }

  async read(p: Uint8Array): Promise<number | null> {
    const pipe = this.#in;
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
      if (pipe.size > 0) break;
      if (pipe.ended) return null;
      await pipe.untilReadable();
    }
    let n = 0;
    while (n < p.length && pipe.chunks.length > 0) {
      const chunk = pipe.chunks[0]!;
      const take = Math.min(chunk.length, p.length - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) pipe.chunks.shift();
      else pipe.chunks[0] = chunk.subarray(take);
    }
    pipe.size -= n;
    if (pipe.size < CAPACITY) pipe.wakeWriter();
    return n;
  }

  async write(p: Uint8Array): Promise<number> {
    const pipe = this.#out;
    while (true) {
      if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
      if (pipe.broken) throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      if (pipe.ended) throw new Deno.errors.NotConnected("the write side is closed");
      if (pipe.size < CAPACITY) break;
      await pipe.untilWritable();
    }
    if (p.length === 0) return 0;
    // The caller may reuse its buffer once the write resolves.
    pipe.chunks.push(p.slice());
    pipe.size += p.length;
    pipe.wakeReader();
    return p.length;
  }

  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    this.#out.ended = true;
    this.#out.wakeReader();
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    this.#closed = true;
    // The peer reads what was sent, then the end; its writes now fail.
    this.#out.ended = true;
    this.#out.wakeReader();
    this.#out.wakeWriter();
    this.#in.broken = true;
    this.#in.chunks.length = 0;
    this.#in.size = 0;
    this.#in.wakeReader();
    this.#in.wakeWriter();
  }

  ref(): void {}

  unref(): void {}

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        const buffer = new Uint8Array(16 * 1024);
        const n = await this.read(buffer).catch(() => null);
        if (n === null) controller.close();
        else controller.enqueue(buffer.subarray(0, n));
      },
    });
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream({
      write: async (chunk) => {
        for (let at = 0; at < chunk.length;) at += await this.write(chunk.subarray(at));
      },
      close: () => this.closeWrite(),
    });
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/** Two joined ends: what one writes, the other reads. */
export function memoryPair(): [client: MemoryConn, server: MemoryConn] {
  const up = new Pipe();
  const down = new Pipe();
  const clientAddr = memoryAddr(nextPort++);
  const serverAddr = memoryAddr(nextPort++);
  return [
    new MemoryConn(down, up, clientAddr, serverAddr),
    new MemoryConn(up, down, serverAddr, clientAddr),
  ];
}

/** A listener whose connections come from {@linkcode MemoryListener.dial}. */
export class MemoryListener implements Deno.Listener<Deno.Conn, Deno.NetAddr> {
  readonly addr: Deno.NetAddr = memoryAddr(nextPort++);
  readonly #backlog: MemoryConn[] = [];
  // Each dialled connection's wait for its upgrade, by either end.
  readonly #upgrades = new WeakMap<MemoryConn, PromiseWithResolvers<void>>();
  #waiting: PromiseWithResolvers<MemoryConn> | null = null;
  #closed = false;

  /** A new connection: the server end goes to accept(), the client end is returned. */
  dial(): MemoryConn {
    if (this.#closed) throw new Deno.errors.ConnectionRefused("Connection refused");
    const [client, server] = memoryPair();
    const upgrade = Promise.withResolvers<void>();
    this.#upgrades.set(client, upgrade);
    this.#upgrades.set(server, upgrade);
    if (this.#waiting !== null) {
      this.#waiting.resolve(server);
      this.#waiting = null;
    } else {
      this.#backlog.push(server);
    }
    return client;
  }

  /** For the server: the upgrade of `conn` is done (open, or failed). */
  upgraded(conn: Deno.Conn): void {
    this.#upgrades.get(conn as MemoryConn)?.resolve();
  }

  /** Resolves once the server has upgraded the connection `client` was dialled for. */
  whenUpgraded(client: MemoryConn): Promise<void> {
    return this.#upgrades.get(client)?.promise ?? Promise.resolve();
  }

  accept(): Promise<Deno.Conn> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Listener has been closed"));
    }
    const next = this.#backlog.shift();
    if (next !== undefined) return Promise.resolve(next);
    return (this.#waiting ??= Promise.withResolvers()).promise;
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    this.#closed = true;
    this.#waiting?.reject(new Deno.errors.BadResource("Listener has been closed"));
    this.#waiting = null;
    for (const conn of this.#backlog.splice(0)) conn.close();
  }

  ref(): void {}

  unref(): void {}

  async *[Symbol.asyncIterator](): AsyncIterableIterator<Deno.Conn> {
    while (!this.#closed) {
      try {
        yield await this.accept();
      } catch {
        return;
      }
    }
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
