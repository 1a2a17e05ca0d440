import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAIN } from './child.js';

/** Runs `node dist/main.js` with only the given environment; it must stop by itself. */
function start(env: Record<string, string>, cwd: string) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('configuration errors stop the start with exit code 78 and a report (child process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = { DATA_DIR: join(dir, 'data'), LOG_DIR: join(dir, 'logs'), PORT: '0' };

  it('rejects a negative DRAIN_TIMEOUT_MS and a non-numeric READINESS_DELAY_MS, naming both', async () => {
    const { code, stderr } = await start(
      { ...base, NODE_ENV: 'development', DRAIN_TIMEOUT_MS: '-5', READINESS_DELAY_MS: 'soon' },
      dir,
    );
    expect(code).toBe(78);
    expect(stderr).toMatch(/DRAIN_TIMEOUT_MS: .*-5/);
    expect(stderr).toMatch(/READINESS_DELAY_MS: .*soon/);
  });

  it('refuses a DATABASE_URL that is not postgres, without echoing it', async () => {
    const { code, stderr } = await start(
      { ...base, NODE_ENV: 'production', DATABASE_URL: 'mysql://db/glass' },
      dir,
    );
    expect(code).toBe(78);
    expect(stderr).toContain('DATABASE_URL');
    expect(stderr).not.toContain('mysql://db/glass');
  });

  it('refuses production without an admin credential (ADMIN_TOKEN, API_KEYS or OIDC)', async () => {
    const { code, stderr } = await start({ ...base, NODE_ENV: 'production' }, dir);
    expect(code).toBe(78);
    expect(stderr).toMatch(/ADMIN_TOKEN: required in staging and production/);
  });

  it('refuses malformed API_KEYS and a half-configured OIDC, naming the settings', async () => {
    const bad = await start(
      {
        ...base,
        NODE_ENV: 'production',
        ADMIN_TOKEN: 'a-production-admin-token-0123456789',
        API_KEYS: 'glass_1234abcd:superuser:00',
      },
      dir,
    );
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/API_KEYS: expected "<key id>:<role>:<sha256 hex>"/);
    const oidc = await start(
      {
        ...base,
        NODE_ENV: 'production',
        ADMIN_TOKEN: 'a-production-admin-token-0123456789',
        OIDC_ISSUER: 'https://idp.example.org/realms/glass',
      },
      dir,
    );
    expect(oidc.code).toBe(78);
    expect(oidc.stderr).toMatch(/OIDC_ISSUER, OIDC_JWKS_URL and OIDC_AUDIENCE/);
  });
});
