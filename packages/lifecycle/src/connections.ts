import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

interface SocketState {
  /** Responses on this socket that have not emitted `close` yet. */
  readonly responses: Set<ServerResponse>;
}

/**
 * Tracks every socket of one server and the requests in flight on each, from the server's own
 * `connection` / `request` events, so shutdown knows exactly which keep-alive sockets are idle.
 * A request counts as in flight until its response emits `close`, which comes after `finish`,
 * i.e. after the last byte was handed to the kernel.
 */
export class ConnectionTracker {
  private readonly sockets = new Map<Socket, SocketState>();
  private closing = false;
  private inFlightCount = 0;
  private drainedCount = 0;
  private accepted = 0;
  private readonly server: Server;
  private readonly onChange: () => void;

  constructor(server: Server, onChange: () => void) {
    this.server = server;
    this.onChange = onChange;
    // Prepended so the tracker sees the request before the app can answer it synchronously.
    server.prependListener('connection', this.handleConnection);
    server.prependListener('request', this.handleRequest);
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Requests that completed after the server stopped accepting. */
  get drained(): number {
    return this.drainedCount;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  detach(): void {
    this.server.removeListener('connection', this.handleConnection);
    this.server.removeListener('request', this.handleRequest);
  }

  private readonly handleConnection = (socket: Socket): void => {
    this.accepted++;
    this.track(socket);
  };

  private track(socket: Socket): SocketState {
    let state = this.sockets.get(socket);
    if (state) return state;
    state = { responses: new Set() };
    this.sockets.set(socket, state);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.onChange();
    });
    return state;
  }

  private readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    // A socket accepted before the tracker was attached is adopted on its first request.
    const state = this.track(socket);
    state.responses.add(res);
    this.inFlightCount++;
    if (this.closing) res.setHeader('Connection', 'close');
    res.once('close', () => {
      if (!state.responses.delete(res)) return;
      this.inFlightCount--;
      if (this.closing) {
        this.drainedCount++;
        // Headers went out before the stop (no `Connection: close` on them): Node would keep
        // the socket alive, so end it once its last response is done.
        if (state.responses.size === 0 && !socket.destroyed) endSoon(socket);
      }
      this.onChange();
    });
  };

  /**
   * Step 3 of the shutdown. From now on every response not yet started gets `Connection: close`.
   * The listener is closed and idle sockets destroyed only after poll phases have run
   * (`setImmediate`), so that what the kernel already holds is served, not reset:
   * 1. connections waiting in the accept queue are accepted first — libuv accepts one per poll
   *    phase, so this waits for poll phases until one accepts nothing (at most
   *    MAX_ACCEPT_ROUNDS turns and MAX_ACCEPT_MS); closing the listener earlier would reset every
   *    connection queued;
   * 2. after one more poll phase, the requests waiting on every open socket (the ones just
   *    accepted included) are parsed and so in flight; only then are sockets with nothing in
   *    flight destroyed.
   * Resolves with the number of requests in flight at that point and of idle sockets closed.
   */
  async stop(closeListener: () => void): Promise<{ inFlightAtStop: number; idleClosed: number }> {
    this.closing = true;
    for (const state of this.sockets.values()) {
      for (const res of state.responses) {
        if (!res.headersSent) res.setHeader('Connection', 'close');
      }
    }
    // Clients that keep opening connections would keep this going: bound it in turns and time.
    const deadline = performance.now() + MAX_ACCEPT_MS;
    for (let round = 0; round < MAX_ACCEPT_ROUNDS && performance.now() < deadline; round++) {
      const before = this.accepted;
      await afterPoll();
      if (this.accepted === before) break;
    }
    closeListener();
    await afterPoll();
    const inFlightAtStop = this.inFlightCount;
    let idleClosed = 0;
    for (const [socket, state] of this.sockets) {
      if (state.responses.size === 0) {
        idleClosed++;
        socket.destroy();
      }
    }
    return { inFlightAtStop, idleClosed };
  }

  /** Destroys every socket left; returns how many requests were still in flight on them. */
  destroyAll(): number {
    let cut = 0;
    for (const [socket, state] of this.sockets) {
      cut += state.responses.size;
      // Forget the responses first so their `close` events are not counted as drained.
      this.inFlightCount -= state.responses.size;
      state.responses.clear();
      socket.destroy();
    }
    return cut;
  }
}

/** Node's default listen backlog is 511: enough rounds to empty a full accept queue. */
const MAX_ACCEPT_ROUNDS = 1024;
const MAX_ACCEPT_MS = 1000;

const afterPoll = () => new Promise<void>((resolve) => setImmediate(resolve));

function endSoon(socket: Socket): void {
  socket.end();
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
