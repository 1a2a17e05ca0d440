import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import type { CacheLogger } from '../src/index.js';

export type LogLine = {
  level: 'info' | 'warn' | 'error';
  message: string;
  meta?: Record<string, unknown>;
};

/** A logger that records every line, for asserting what was logged (and how often). */
export function recordingLogger(): CacheLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const push = (level: LogLine['level']) => (message: string, meta?: Record<string, unknown>) => {
    lines.push(meta === undefined ? { level, message } : { level, message, meta });
  };
  return { lines, info: push('info'), warn: push('warn'), error: push('error') };
}

function makeClient(url: string, reconnect: boolean) {
  return createClient({
    url,
    socket: { connectTimeout: 1000, reconnectStrategy: reconnect ? () => 100 : false },
  });
}

export type Client = ReturnType<typeof makeClient>;

/** A connected node-redis client; errors are recorded instead of crashing the test process. */
export async function connect(
  url: string,
  options: { reconnect?: boolean } = {},
): Promise<Client & { errors: unknown[] }> {
  const client = makeClient(url, options.reconnect !== false);
  const errors: unknown[] = [];
  client.on('error', (error: unknown) => errors.push(error));
  await client.connect();
  return Object.assign(client, { errors });
}

/** A prefix no other test (or parallel run) uses. */
export function uniquePrefix(label: string): string {
  return `shipshape-test:cache:${label}:${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under a prefix on the given client. */
export async function deleteByPrefix(client: Client, prefix: string): Promise<void> {
  const keys = await keysByPrefix(client, prefix);
  if (keys.length > 0) await client.sendCommand(['UNLINK', ...keys]);
}

/** Every key under a prefix (SCAN, not KEYS). */
export async function keysByPrefix(client: Client, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await client.sendCommand([
      'SCAN',
      cursor,
      'MATCH',
      `${prefix}*`,
      'COUNT',
      '1000',
    ])) as [string, string[]];
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}
