#!/usr/bin/env node
import { loadConfigOrExit } from '@shipshape/config';
import { AccessConfigError } from './auth/access.js';
import { schema } from './config.js';
import { createGlassService } from './http/service.js';
import { StorageError } from './storage/errors.js';

// sysexits.h, as @shipshape/config exits 78 (EX_CONFIG) for an invalid configuration.
const EX_UNAVAILABLE = 69;
const EX_CANTCREAT = 73;
const EX_SOFTWARE = 70;
const EX_CONFIG = 78;

const config = loadConfigOrExit(schema);
try {
  const glass = await createGlassService({ config });
  const { port, address } = await glass.listen();
  glass.service.logger.info(`glass-standardizer listening on http://${address}:${port}`);
} catch (err) {
  // Expected start failures are one line that says what to fix; anything else keeps its stack.
  const { code, syscall } = err as NodeJS.ErrnoException;
  if (err instanceof AccessConfigError) {
    process.stderr.write(`glass-standardizer: invalid configuration:\n  ${err.message}\n`);
    process.exit(EX_CONFIG);
  } else if (err instanceof StorageError) {
    process.stderr.write(
      `glass-standardizer: cannot start: ${config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `SQLite in ${config.DATA_DIR}`} is not usable: ${(err.cause as Error | undefined)?.message ?? err.message}\n`,
    );
    process.exit(err.fault === 'full' ? EX_CANTCREAT : EX_UNAVAILABLE);
  } else if (syscall === 'listen') {
    process.stderr.write(
      `glass-standardizer: cannot start: ${(err as Error).message} (HOST=${config.HOST}, PORT=${config.PORT})\n`,
    );
    process.exit(EX_UNAVAILABLE);
  } else if (code === 'ENOSPC' || code === 'EROFS' || code === 'EPERM' || code === 'EACCES') {
    process.stderr.write(
      `glass-standardizer: cannot start: ${(err as Error).message} (DATA_DIR=${config.DATA_DIR}, LOG_DIR=${config.LOG_DIR})\n`,
    );
    process.exit(EX_CANTCREAT);
  } else {
    process.stderr.write(
      `glass-standardizer: cannot start: ${(err as Error)?.stack ?? String(err)}\n`,
    );
    process.exit(EX_SOFTWARE);
  }
}
