import { Duplex } from 'node:stream';

/**
 * One end of an in-memory connection: what is written to it is read from its peer. It has the few
 * net.Socket methods node:http calls (timeouts, no-delay, keep-alive, ref) as no-ops, and a loopback
 * address, so an http.Server and an http.ClientRequest can talk over it without a port.
 */
export class MemorySocket extends Duplex {
  peer: MemorySocket | null = null;
  remoteAddress = '127.0.0.1';
  remotePort = 0;
  remoteFamily = 'IPv4';
  localAddress = '127.0.0.1';
  localPort = 0;
  connecting = false;
  encrypted = undefined;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // Bytes arrive when the peer writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === null || peer.destroyed) {
      callback(Object.assign(new Error('write after the other end closed'), { code: 'EPIPE' }));
      return;
    }
    peer.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.peer !== null && !this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    // The other end sees the connection go: its read side ends, then it closes.
    if (peer !== null && !peer.destroyed) {
      peer.peer = null;
      peer.push(null);
      process.nextTick(() => peer.destroy());
    }
    callback(error);
  }

  setTimeout(_ms: number, callback?: () => void): this {
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }
  destroySoon(): void {
    if (this.writableFinished) {
      this.destroy();
      return;
    }
    this.once('finish', () => this.destroy());
    this.end();
  }
}

/** Two connected ends: `[client, server]`. */
export function memoryConnection(): [MemorySocket, MemorySocket] {
  const client = new MemorySocket();
  const server = new MemorySocket();
  client.peer = server;
  server.peer = client;
  return [client, server];
}
