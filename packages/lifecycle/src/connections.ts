import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

interface SocketState {
  /** Responses on this socket that have not emitted `close` yet. */
  readonly responses: Set<ServerResponse>;
  /** `socket.bytesRead` at accept or when its last response closed: more is a request arriving. */
  bytesAtIdle: number;
}

/**
 * How long the server must have been quiet — no connection accepted, no request started, no
 * response ended, no byte received on an idle socket — before the drain closes idle sockets.
 *
 * Closing an idle keep-alive socket races with the client sending its next request on it: the
 * request crosses the FIN on the wire and the client sees a reset. A client sends that request
 * right after a response ends, on the socket it just used or on another pooled one — and during
 * the drain its busy sockets are being closed by `Connection: close`, so it moves to the idle
 * ones. Once nothing has happened on the whole server for this long, the idle sockets are parked
 * in pools nobody is drawing from (a client still sending would be using them), and closing them
 * is a clean close between requests.
 */
export const IDLE_QUIET_MS = 500;

/** Bounds of the accept-queue draining before the listener is closed. */
const MAX_ACCEPT_ROUNDS = 1024;
const MAX_ACCEPT_MS = 1000;

const now = () => performance.now();
/**
 * Resolves after at least one poll phase has run (accepting queued connections, reading what the
 * kernel holds). One setImmediate is not enough: queued from the poll phase (a signal handler, an
 * I/O callback) it runs in the check phase of the same loop turn, before any further poll. The
 * second one is queued from a check phase, so a poll phase always runs before it.
 */
const afterPoll = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
function ignoreError(): void {
  // A socket the drain holds may be reset by its peer at any time; that is not an error of ours
  // (and without a listener it would be an uncaught exception).
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
  private idleClosedCount = 0;
  private accepted = 0;
  /** Last accept, request start or response end on any socket. */
  private lastActivity = now();
  private sweepTimer: NodeJS.Timeout | undefined;
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

  /** Sockets open and not yet closed by the drain (busy, or idle and waiting for quiet). */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Sockets with nothing in flight that the drain closed. */
  get idleClosed(): number {
    return this.idleClosedCount;
  }

  detach(): void {
    this.server.removeListener('connection', this.handleConnection);
    this.server.removeListener('request', this.handleRequest);
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private readonly handleConnection = (socket: Socket): void => {
    this.accepted++;
    this.lastActivity = now();
    this.track(socket);
  };

  private track(socket: Socket): SocketState {
    let state = this.sockets.get(socket);
    if (state) return state;
    state = { responses: new Set(), bytesAtIdle: socket.bytesRead };
    this.sockets.set(socket, state);
    const tracked = state;
    socket.once('close', () => {
      if (this.sockets.get(socket) === tracked) this.sockets.delete(socket);
      this.onChange();
    });
    if (this.closing) {
      // Adopted (or injected with `server.emit('connection')`) after the stop.
      socket.on('error', ignoreError);
      this.scheduleSweep();
    }
    return state;
  }

  private readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    // A socket accepted before the tracker was attached is adopted on its first request.
    const state = this.track(socket);
    state.responses.add(res);
    this.inFlightCount++;
    this.lastActivity = now();
    if (this.closing) res.setHeader('Connection', 'close');
    res.once('close', () => {
      if (!state.responses.delete(res)) return;
      this.inFlightCount--;
      this.lastActivity = now();
      state.bytesAtIdle = socket.bytesRead;
      if (this.closing) {
        this.drainedCount++;
        // A response answered with `Connection: close` ends its socket (Node does that). One
        // whose headers went out as keep-alive before the stop leaves an open socket the client
        // may reuse at once: it is an idle socket now, like any other.
        if (state.responses.size === 0) this.scheduleSweep();
      }
      this.onChange();
    });
  };

  /**
   * Steps 3–5 of the shutdown (README, Behaviour): empties the accept queue, closes the
   * listener, answers everything with `Connection: close` and closes idle sockets once the server
   * is quiet.
   *
   * 1. Connections waiting in the kernel's accept queue are accepted first: closing the listener
   *    resets every connection still queued. Poll phases are let pass until one accepts nothing
   *    (bounded by MAX_ACCEPT_ROUNDS, MAX_ACCEPT_MS, the drain deadline and `forced()`, a second
   *    signal). Responses still go out as keep-alive meanwhile, so no client is prompted to
   *    reconnect into the queue.
   * 2. The listener is closed (`closeListener`); from now on new connections are refused.
   * 3. Every response not yet started gets `Connection: close`, and so does every request that
   *    arrives on an open socket from now on (a new connection's first request included).
   * 4. After one more poll phase (requests the kernel already holds are parsed, so in flight),
   *    sockets with nothing in flight are closed once the server has been quiet for
   *    IDLE_QUIET_MS (at once if it already has). Upgraded (e.g. WebSocket) sockets are closed
   *    at once.
   *
   * Resolves with the number of requests in flight at that point.
   */
  async stop(
    closeListener: () => void,
    deadline: number,
    forced: () => boolean,
  ): Promise<{ inFlightAtStop: number }> {
    // Clients that keep opening connections would keep this going: bound it in turns and time.
    const acceptUntil = Math.min(deadline, now() + MAX_ACCEPT_MS);
    for (let round = 0; round < MAX_ACCEPT_ROUNDS && now() < acceptUntil && !forced(); round++) {
      const before = this.accepted;
      await afterPoll();
      if (this.accepted === before) break;
    }
    closeListener();
    this.closing = true;
    for (const [socket, state] of this.sockets) {
      socket.on('error', ignoreError);
      for (const res of state.responses) {
        if (!res.headersSent) res.setHeader('Connection', 'close');
      }
    }
    await afterPoll();
    const inFlightAtStop = this.inFlightCount;
    this.sweep();
    return { inFlightAtStop };
  }

  private scheduleSweep(): void {
    if (this.sweepTimer || !this.closing) return;
    const wait = Math.max(1, Math.ceil(this.lastActivity + IDLE_QUIET_MS - now()));
    // The sweep runs from setImmediate, after a poll phase: bytes the kernel received for any
    // socket by then have been read (and a complete request is in flight).
    this.sweepTimer = setTimeout(() => setImmediate(() => this.sweep()), wait);
    this.sweepTimer.unref();
  }

  /** Closes idle sockets once the server has been quiet long enough. Runs right after a poll. */
  private sweep(): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (!this.closing) return;
    const idle: Socket[] = [];
    for (const [socket, state] of this.sockets) {
      if (state.responses.size > 0) continue;
      if (isDetached(socket)) {
        this.closeIdle(socket);
      } else {
        if (socket.bytesRead !== state.bytesAtIdle) {
          // Part of a request has arrived (a slow client): that is activity too.
          state.bytesAtIdle = socket.bytesRead;
          this.lastActivity = now();
        }
        idle.push(socket);
      }
    }
    if (idle.length === 0) return;
    if (now() - this.lastActivity < IDLE_QUIET_MS) {
      this.scheduleSweep();
      return;
    }
    for (const socket of idle) this.closeIdle(socket);
  }

  private closeIdle(socket: Socket): void {
    this.sockets.delete(socket);
    this.idleClosedCount++;
    // Nothing is unread (the sweep follows a poll phase), so the kernel ends the connection with
    // a FIN, not a reset: a pooled client socket sees a clean close.
    socket.destroy();
    this.onChange();
  }

  /**
   * The drain deadline: destroys every socket left. Returns how many requests were still in
   * flight on them (idle sockets still waiting for quiet count as idle closed).
   */
  destroyAll(): number {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    let cut = 0;
    for (const [socket, state] of this.sockets) {
      if (state.responses.size === 0) {
        this.idleClosedCount++;
      } else {
        cut += state.responses.size;
        // Forget the responses first so their `close` events are not counted as drained.
        this.inFlightCount -= state.responses.size;
        state.responses.clear();
      }
      socket.on('error', ignoreError);
      socket.destroy();
    }
    this.sockets.clear();
    return cut;
  }
}

/**
 * True for a socket Node's HTTP server has handed over (an `upgrade` or `CONNECT`): Node frees its
 * parser then (`socket.parser = null`); an HTTP socket keeps one for its whole life.
 */
function isDetached(socket: Socket): boolean {
  return (socket as Socket & { parser?: unknown }).parser === null;
}
