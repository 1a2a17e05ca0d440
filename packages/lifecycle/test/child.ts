import { type ChildProcess, spawn } from 'node:child_process';
import { type Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ShutdownReport } from '../src/types.js';

const fixture = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));

/** One JSON line printed by the fixture. */
export interface FixtureEvent {
  readonly at: number;
  readonly e: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly at: number;
}

export interface Fixture {
  readonly child: ChildProcess;
  readonly url: string;
  readonly events: FixtureEvent[];
  readonly exited: Promise<Exit>;
  /** Sends a real signal to the child; returns the time it was sent. */
  kill(signal: NodeJS.Signals): number;
  waitFor(predicate: (event: FixtureEvent) => boolean, timeoutMs?: number): Promise<FixtureEvent>;
  /** The `draining` state line (when readiness started answering 503). */
  drainingAt(): number;
  /** The shutdown report the lifecycle logged. */
  report(): ShutdownReport;
  stderr(): string;
}

export interface FixtureOptions {
  readonly express: 4 | 5;
  readonly lifecycle?: Record<string, unknown>;
  readonly hooks?: readonly { name: string; mode?: 'ok' | 'hang' | 'fail'; ms?: number }[];
  /** The fixture prints a `connection` line (with the client's port) for every accepted socket. */
  readonly traceConnections?: boolean;
  /** The app blocks its event loop for `forMs`, `afterMs` after draining begins. */
  readonly blockAfterDrain?: { readonly afterMs: number; readonly forMs: number };
}

const running = new Set<ChildProcess>();

/** SIGKILLs any fixture a failed test left behind. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

export async function startFixture(options: FixtureOptions): Promise<Fixture> {
  const child = spawn(process.execPath, [fixture], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      EXPRESS_MAJOR: String(options.express),
      LIFECYCLE_OPTIONS: JSON.stringify(options.lifecycle ?? {}),
      FIXTURE_HOOKS: JSON.stringify(options.hooks ?? []),
      FIXTURE_TRACE_CONNECTIONS: options.traceConnections ? '1' : '0',
      FIXTURE_BLOCK_AFTER_DRAIN: options.blockAfterDrain
        ? `${options.blockAfterDrain.afterMs}:${options.blockAfterDrain.forMs}`
        : '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const events: FixtureEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffer = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as FixtureEvent);
      } catch {
        stderr += `[unparsed stdout] ${line}\n`;
      }
    }
    for (const w of waiters) w();
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, at: Date.now() });
      for (const w of waiters) w();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  const waitFor = (predicate: (event: FixtureEvent) => boolean, timeoutMs = 10_000) =>
    new Promise<FixtureEvent>((resolve, reject) => {
      const check = () => {
        const found = events.find(predicate);
        if (found) {
          done();
          resolve(found);
        } else if (hasExited || child.exitCode !== null) {
          done();
          reject(new Error(`fixture exited before the awaited event; stderr:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for a fixture event; stderr:\n${stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const listening = await waitFor((e) => e.e === 'listening');
  return {
    child,
    url: `http://127.0.0.1:${listening.port as number}`,
    events,
    exited,
    kill(signal) {
      const at = Date.now();
      child.kill(signal);
      return at;
    },
    waitFor,
    drainingAt() {
      const e = events.find((x) => x.e === 'state' && x.state === 'draining');
      if (!e) throw new Error('the fixture never entered "draining"');
      return e.at;
    },
    report() {
      const e = events.find((x) => x.e === 'log' && String(x.message).endsWith('shutdown report'));
      if (!e) throw new Error(`no shutdown report was logged; stderr:\n${stderr}`);
      return e.meta as ShutdownReport;
    },
    stderr: () => stderr,
  };
}

export interface Outcome {
  /** When the request was created. */
  readonly createdAt: number;
  /** When its last byte was handed to the kernel (`finish`), when that happened. */
  readonly writtenAt: number | undefined;
  readonly doneAt: number;
  readonly status?: number;
  readonly connection?: string | undefined;
  readonly body?: string;
  readonly error?: string;
  readonly socket?: Socket;
  /** The client-side port of the socket used, when one was assigned. */
  readonly localPort?: number | undefined;
}

/** One GET through `agent`; never rejects: failures come back as `error`. */
export function get(
  url: string,
  agent: Agent | undefined,
  headers?: Record<string, string>,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const createdAt = Date.now();
    let writtenAt: number | undefined;
    let socket: Socket | undefined;
    const req = request(url, { agent: agent ?? false, ...(headers ? { headers } : {}) });
    let localPort: number | undefined;
    req.on('socket', (s) => {
      socket = s;
      localPort = s.localPort;
      // A reused keep-alive socket is connected already: its 'connect' will not come again.
      if (s.connecting) {
        s.once('connect', () => {
          localPort = s.localPort;
        });
      }
    });
    req.on('finish', () => {
      writtenAt = Date.now();
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({
          createdAt,
          writtenAt,
          doneAt: Date.now(),
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body,
          ...(socket ? { socket, localPort } : {}),
        }),
      );
      res.on('error', (error) =>
        resolve({ createdAt, writtenAt, doneAt: Date.now(), error: error.message }),
      );
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({
        createdAt,
        writtenAt,
        doneAt: Date.now(),
        error: error.code ?? error.message,
        localPort,
      }),
    );
    req.end();
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
