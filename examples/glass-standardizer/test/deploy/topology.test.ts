// The compose topology as real processes: nginx (the compose template, rendered with local
// ports), two instances of dist/main.js, a private Redis and PostgreSQL, and Prometheus (the
// compose config and rules, targets and intervals substituted). Checks load balancing, a rolling
// restart under load with no request lost, scrapes, and the instance-down alert.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  canRunSparePostgres,
  type SparePostgres,
  startSparePostgres,
} from '../../../../test/helpers/postgres.js';
import { freePort, type SpareRedis, startSpareRedis } from '../../../../test/helpers/services.js';
import { EXAMPLE_ROOT, MAIN, waitDone } from '../http/child.js';
import { ADMIN_TOKEN } from '../http/support.js';

/** What compose gives the instances (secrets/app.env) and Prometheus (secrets/metrics_token). */
const METRICS_TOKEN = 'topology-scrape-token-0123456789';

import { DEPLOY, type Doc, dumpYaml, get, readYaml, toolAvailable } from './support.js';

const run = promisify(execFile);
const why = 'the compose topology test is skipped';
const ready =
  toolAvailable('nginx', why) &&
  toolAvailable('prometheus', why) &&
  toolAvailable('redis-server', why) &&
  (canRunSparePostgres() || toolAvailable('initdb', why));

/** The service's readiness delay in this test (production default: 5000; shorter to stay fast). */
const READINESS_DELAY_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Renders a template like the nginx image's envsubst: only the named variables. */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  const out = text.replace(/\$\{([A-Z0-9_]+)\}/g, (all, name: string) => vars[name] ?? all);
  const left = /\$\{([A-Z0-9_]+)\}/.exec(out);
  if (left) throw new Error(`template variable ${left[1]} has no value`);
  return out;
}

interface Instance {
  readonly name: string;
  readonly port: number;
  child: ChildProcess | undefined;
  output: string;
  /** The shutdown reports the instance logged, one per stop. */
  readonly reports: { exitCode: number; phases: Record<string, number> }[];
}

describe.skipIf(!ready)('compose topology on real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glass-topology-'));
  chmodSync(dir, 0o755);
  let redis: SpareRedis;
  let pg: SparePostgres;
  let nginx: ChildProcess;
  let prometheus: ChildProcess;
  let nginxUrl: string;
  let promUrl: string;
  let datasetId: string;
  const instances: Instance[] = [];
  const log: string[] = [];

  function env(instance: Instance): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(instance.port),
      ADMIN_TOKEN,
      METRICS_TOKEN,
      REDIS_URL: redis.url,
      DATABASE_URL: pg.url,
      DATABASE_SCHEMA: 'glass',
      // compose.yaml's settings: one proxy hop, shared DATA_DIR, separate logs.
      TRUST_PROXY: '1',
      READINESS_DELAY_MS: String(READINESS_DELAY_MS),
      DRAIN_TIMEOUT_MS: '10000',
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, `${instance.name}-logs`),
    };
  }

  async function startInstance(instance: Instance): Promise<void> {
    instance.output = '';
    const child = spawn(process.execPath, [MAIN], {
      cwd: EXAMPLE_ROOT,
      env: env(instance),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    instance.child = child;
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      instance.output += c;
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      instance.output += c;
    });
    const deadline = Date.now() + 45_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${instance.name} exited:\n${instance.output}`);
      const status = await fetch(`http://127.0.0.1:${instance.port}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`${instance.name} not ready:\n${instance.output}`);
      await sleep(100);
    }
  }

  async function stopInstance(instance: Instance): Promise<number | null> {
    const child = instance.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    const line = instance.output.split('\n').find((l) => l.includes('shutdown report'));
    if (line) instance.reports.push(JSON.parse(line));
    return code;
  }

  /** http_requests_total of one instance for one route, read from its own /metrics. */
  async function served(instance: Instance, route: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n'))
      if (line.startsWith('http_requests_total{') && line.includes(`route="${route}"`))
        total += Number(line.split(' ').pop());
    return total;
  }

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await fn().catch(() => undefined);
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }

  beforeAll(async () => {
    [redis, pg] = await Promise.all([startSpareRedis(), startSparePostgres()]);
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    instances.push({
      name: 'app1',
      port: ports[0] as number,
      child: undefined,
      output: '',
      reports: [],
    });
    instances.push({
      name: 'app2',
      port: ports[1] as number,
      child: undefined,
      output: '',
      reports: [],
    });
    // The first start creates the schema; the second then finds it.
    await startInstance(instances[0] as Instance);
    await startInstance(instances[1] as Instance);

    // nginx: the compose template, rendered like the image does, inside a main config of ours.
    const nginxDir = join(dir, 'nginx');
    for (const sub of ['', 'body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      mkdirSync(join(nginxDir, sub), { recursive: true, mode: 0o777 });
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      chmodSync(join(nginxDir, sub), 0o777);
    const nginxPort = ports[2] as number;
    writeFileSync(
      join(nginxDir, 'glass.conf'),
      renderTemplate(readFileSync(join(DEPLOY, 'nginx/glass.conf.template'), 'utf8'), {
        NGINX_PORT: `127.0.0.1:${nginxPort}`,
        GLASS_UPSTREAM_1: `127.0.0.1:${instances[0]?.port}`,
        GLASS_UPSTREAM_2: `127.0.0.1:${instances[1]?.port}`,
      }),
    );
    writeFileSync(
      join(nginxDir, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${nginxDir}/nginx.pid;`,
        `error_log ${nginxDir}/error.log warn;`,
        'events { worker_connections 1024; }',
        'http {',
        `  access_log ${nginxDir}/access.log;`,
        `  client_body_temp_path ${nginxDir}/body;`,
        `  proxy_temp_path ${nginxDir}/proxy;`,
        `  fastcgi_temp_path ${nginxDir}/fastcgi;`,
        `  uwsgi_temp_path ${nginxDir}/uwsgi;`,
        `  scgi_temp_path ${nginxDir}/scgi;`,
        `  include ${nginxDir}/glass.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    const nginxArgs = [
      '-p',
      nginxDir,
      '-e',
      join(nginxDir, 'error.log'),
      '-c',
      join(nginxDir, 'nginx.conf'),
    ];
    await run('nginx', [...nginxArgs, '-t']);
    nginx = spawn('nginx', nginxArgs, { stdio: 'ignore' });
    nginxUrl = `http://127.0.0.1:${nginxPort}`;
    await waitFor('nginx', async () =>
      (await fetch(`${nginxUrl}/nginx-health`)).status === 200 ? true : undefined,
    );

    // Prometheus: compose's prometheus.yml and rules; the targets file and intervals replaced.
    const promDir = join(dir, 'prometheus');
    mkdirSync(join(promDir, 'targets'), { recursive: true });
    const config = readYaml(join(DEPLOY, 'prometheus/prometheus.yml'));
    config.global = {
      ...(config.global as Doc),
      scrape_interval: '1s',
      scrape_timeout: '1s',
      evaluation_interval: '1s',
    };
    config.rule_files = (config.rule_files as string[]).map((f) => join(DEPLOY, 'prometheus', f));
    const job = (config.scrape_configs as Doc[]).find((j) => j.job_name === 'glass') as Doc;
    const sd = get<Doc>(job, 'file_sd_configs.0');
    sd.refresh_interval = '1s';
    const composeTargets = readYaml(
      join(DEPLOY, 'prometheus/targets/glass.yml'),
    ) as unknown as Doc[];
    writeFileSync(
      join(promDir, (sd.files as string[])[0] as string),
      dumpYaml([
        {
          targets: instances.map((i) => `127.0.0.1:${i.port}`),
          labels: composeTargets[0]?.labels,
        },
      ]),
    );
    // The scrape token, where the compose config's credentials_file points (relative to it).
    const credentials = get<string>(job, 'authorization.credentials_file');
    mkdirSync(dirname(join(promDir, credentials)), { recursive: true });
    writeFileSync(join(promDir, credentials), `${METRICS_TOKEN}\n`);
    writeFileSync(join(promDir, 'prometheus.yml'), dumpYaml(config));
    const promPort = ports[3] as number;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    promUrl = `http://127.0.0.1:${promPort}`;
    await waitFor('prometheus', async () =>
      (await fetch(`${promUrl}/-/ready`)).status === 200 ? true : undefined,
    );

    // A dataset to read during the load (uploaded through nginx).
    const form = new FormData();
    const csv = readFileSync(join(EXAMPLE_ROOT, 'test/fixtures/samples/lab_a_2024.csv'));
    form.set('file', new Blob([csv], { type: 'text/csv' }), 'lab_a_2024.csv');
    for (const [k, v] of Object.entries({ country: 'KEN', year: '2024', batchId: 'T1' }))
      form.set(k, v);
    const res = await fetch(`${nginxUrl}/api/datasets`, { method: 'POST', body: form });
    expect(res.status).toBe(202);
    datasetId = ((await res.json()) as { id: string }).id;
    expect((await waitDone(nginxUrl, datasetId)).status).toBe('done');
  }, 90_000);

  afterAll(async () => {
    for (const child of [nginx, prometheus])
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    await Promise.all(instances.map(stopInstance));
    await Promise.all([redis?.stop(), pg?.destroy()]);
    console.info(`[topology] ${log.join('; ')}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('requests through nginx reach both instances; /metrics is not exposed through it', async () => {
    const before = await Promise.all(instances.map((i) => served(i, '/api/datasets/:id')));
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${nginxUrl}/api/datasets/${datasetId}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await Promise.all(instances.map((i) => served(i, '/api/datasets/:id')));
    const counts = after.map((n, i) => n - (before[i] ?? 0));
    log.push(`20 GETs through nginx: ${counts.join(' + ')} per instance`);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20);
    for (const n of counts) expect(n).toBeGreaterThan(0);
    expect((await fetch(`${nginxUrl}/metrics`)).status).toBe(404);
  });

  it('Prometheus scrapes both instances: up == 1 for each target', async () => {
    const started = Date.now();
    const up = await waitFor('both targets up', async () => {
      const body = (await (
        await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('up{job="glass"}')}`)
      ).json()) as {
        data: { result: { metric: { instance: string }; value: [number, string] }[] };
      };
      const result = body.data.result;
      return result.length === 2 && result.every((r) => r.value[1] === '1') ? result : undefined;
    });
    log.push(`both targets up after ${Date.now() - started} ms`);
    expect(up.map((r) => r.metric.instance).sort()).toEqual(
      instances.map((i) => `127.0.0.1:${i.port}`).sort(),
    );
  });

  it('a rolling restart under load loses no request through nginx', {
    timeout: 90_000,
  }, async () => {
    // 30 clients, each from its own loopback address (nginx forwards it; TRUST_PROXY=1), each
    // under the API limit of 100 requests/min: one GET every 400 ms on a keep-alive socket.
    const paths = [
      `/api/datasets/${datasetId}`,
      `/api/datasets/${datasetId}/antibiogram?minimum=5`,
      '/api/datasets?limit=5',
    ];
    let stop = false;
    const results = { sent: 0, ok: 0, failed: [] as string[] };
    const client = async (n: number) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const localAddress = `127.0.0.${10 + n}`;
      for (let i = 0; !stop; i++) {
        const path = paths[(n + i) % paths.length] as string;
        results.sent++;
        const outcome = await new Promise<string>((resolve) => {
          const req = request(`${nginxUrl}${path}`, { agent, localAddress }, (res) => {
            res.resume();
            res.on('end', () => resolve(String(res.statusCode)));
            res.on('error', (e) => resolve(`response error ${e.message}`));
          });
          req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
          req.on('error', (e) => resolve(`request error ${e.message}`));
          req.end();
        });
        if (outcome === '200') results.ok++;
        else results.failed.push(`${path}: ${outcome}`);
        await sleep(700);
      }
      agent.destroy();
    };
    const load = Promise.all(Array.from({ length: 40 }, (_, n) => client(n)));
    const t0 = Date.now();
    await sleep(1500);
    const exits: (number | null)[] = [];
    for (const instance of instances) {
      const other = instances.find((i) => i !== instance) as Instance;
      const stopped = Date.now();
      exits.push(await stopInstance(instance));
      const down = Date.now();
      await startInstance(instance);
      // Back in rotation (nginx retries it after fail_timeout) before the next one stops,
      // as Kubernetes waits for readiness with maxUnavailable 0.
      const base = await served(instance, '/api/datasets/:id');
      await waitFor(`${instance.name} back in rotation`, async () =>
        (await served(instance, '/api/datasets/:id')) > base ? true : undefined,
      );
      log.push(
        `${instance.name}: SIGTERM→exit ${down - stopped} ms, restart→serving ${Date.now() - down} ms (meanwhile ${other.name} alone)`,
      );
    }
    await sleep(1500);
    stop = true;
    await load;
    log.push(
      `rolling restart under load: ${results.sent} GETs in ${Date.now() - t0} ms, ${results.ok} ok, ${results.failed.length} lost`,
    );
    if (results.failed.length > 0) {
      // What nginx and the instances said, to tell a topology fault from a service fault.
      const errors = readFileSync(join(dir, 'nginx/error.log'), 'utf8').split('\n');
      console.warn(`[topology] nginx error.log:\n${errors.slice(0, 30).join('\n')}`);
      for (const i of instances) {
        const warnings = i.output.split('\n').filter((l) => /"level":"(warn|error)"/.test(l));
        console.warn(`[topology] ${i.name}:\n${warnings.slice(0, 15).join('\n')}`);
      }
    }
    expect(exits).toEqual([0, 0]);
    for (const instance of instances) {
      const report = instance.reports[0];
      log.push(`${instance.name} shutdown phases ${JSON.stringify(report?.phases)}`);
      expect(report?.exitCode).toBe(0);
      expect(report?.phases.readinessDelay).toBeGreaterThanOrEqual(READINESS_DELAY_MS - 50);
    }
    expect(results.failed).toEqual([]);
    expect(results.ok).toBe(results.sent);
    expect(results.sent).toBeGreaterThan(300);
  });

  it('when an instance stops, GlassInstanceDown goes pending in Prometheus', {
    timeout: 30_000,
  }, async () => {
    const victim = instances[1] as Instance;
    const target = `127.0.0.1:${victim.port}`;
    await waitFor('both targets up again', async () => {
      const body = (await (
        await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('min(up{job="glass"})')}`)
      ).json()) as { data: { result: { value: [number, string] }[] } };
      return body.data.result[0]?.value[1] === '1' ? true : undefined;
    });
    const stopped = Date.now();
    expect(await stopInstance(victim)).toBe(0);
    const exited = Date.now();
    const alert = await waitFor('GlassInstanceDown pending', async () => {
      const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] };
      };
      return body.data.alerts.find(
        (a) => a.labels.alertname === 'GlassInstanceDown' && a.labels.instance === target,
      );
    });
    log.push(
      `instance stopped: exit after ${exited - stopped} ms, GlassInstanceDown ${alert.state} ${Date.now() - exited} ms after the exit`,
    );
    expect(alert.state).toBe('pending');
    expect(alert.labels.severity).toBe('critical');
    // Only the stopped instance.
    const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string> }[] };
    };
    expect(
      body.data.alerts
        .filter((a) => a.labels.alertname === 'GlassInstanceDown')
        .map((a) => a.labels.instance),
    ).toEqual([target]);
  });
});
