import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh log directory per server process, so runs never share files. */
export const logDir = () => mkdtempSync(join(tmpdir(), 'shipshape-bench-logs-'));

/** Large enough that 50 connections for 13 s never hit it: the bench measures the limiter's cost. */
export const LIMIT = 1_000_000_000;

export const route = (app) => {
  app.get('/', (_req, res) => {
    res.json({ hello: 'world', n: 42 });
  });
};
