/// <reference path="./express4.d.ts" />
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { describe } from 'vitest';

/** The Express factory type shared by both majors (their public surface is the same for our use). */
export type ExpressFactory = typeof express5;

export interface ExpressVersion {
  readonly major: 4 | 5;
  readonly label: string;
  readonly express: ExpressFactory;
}

export const expressVersions: readonly ExpressVersion[] = [
  { major: 5, label: 'express@5', express: express5 },
  { major: 4, label: 'express@4', express: express4 as unknown as ExpressFactory },
];

/** Runs `suite` once per installed Express major, inside a describe block named after it. */
export function describeEachExpress(
  name: string,
  suite: (express: ExpressFactory, version: ExpressVersion) => void,
): void {
  for (const version of expressVersions) {
    describe(`${name} (${version.label})`, () => suite(version.express, version));
  }
}

export interface Listening {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 with an OS-assigned port; `close()` also ends keep-alive sockets. */
export function listen(handler: RequestListener): Promise<Listening> {
  return new Promise<Listening>((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        server,
        port,
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
