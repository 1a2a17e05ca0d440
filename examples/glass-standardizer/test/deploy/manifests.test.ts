// The Kubernetes manifests (ours and @shipshape/lifecycle's example) against the code's real
// values: probe paths answered by a running service, ports and settings through the service's
// own schema, shutdown timings as the built lifecycle resolves and logs them.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@shipshape/config';
import { createHealth } from '@shipshape/health';
import { createLifecycle, type ShutdownReport } from '@shipshape/lifecycle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpareRedis, startSpareRedis } from '../../../../test/helpers/services.js';
import { type ChildGlass, EXAMPLE_ROOT, spawnGlass } from '../http/child.js';
import { DEPLOY, type Doc, get, REPO, readYaml, readYamlAll, toolAvailable } from './support.js';

// The service's schema as built (dist/, what the image runs); typed by its source.
const { schema } = (await import(
  pathToFileURL(join(EXAMPLE_ROOT, 'dist/config.js')).href
)) as typeof import('../../src/config.js');
const K8S = join(DEPLOY, 'kubernetes');
const deployment = readYaml(join(K8S, 'deployment.yaml'));
const configMap = readYaml(join(K8S, 'configmap.yaml'));
const secret = readYaml(join(K8S, 'secret.example.yaml'));
const service = readYaml(join(K8S, 'service.yaml'));
const pdb = readYaml(join(K8S, 'pdb.yaml'));
const hpa = readYaml(join(K8S, 'hpa.yaml'));
const monitor = readYaml(join(K8S, 'servicemonitor.yaml'));
const kustomization = readYaml(join(K8S, 'kustomization.yaml'));
const lifecycleExample = readYamlAll(join(REPO, 'packages/lifecycle/examples/kubernetes.yaml'));

interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  startupProbe: Probe;
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Doc;
  volumeMounts?: { name: string; mountPath: string }[];
}
const podSpec = (d: Doc) => get<Doc>(d, 'spec.template.spec');
const containerOf = (d: Doc) => (podSpec(d).containers as Container[])[0] as Container;
const glassContainer = containerOf(deployment);

/** Kubernetes' probe defaults (timeoutSeconds 1, periodSeconds 10, failureThreshold 3). */
const probeTiming = (p: Probe) => ({
  period: p.periodSeconds ?? 10,
  timeout: p.timeoutSeconds ?? 1,
  failures: p.failureThreshold ?? 3,
});
function preStopSeconds(c: Container): number {
  const stop = c.lifecycle?.preStop;
  if (!stop) return 0;
  if (stop.sleep) return stop.sleep.seconds;
  const [program, seconds] = stop.exec?.command ?? [];
  if (program !== 'sleep' || !seconds) throw new Error(`unknown preStop ${JSON.stringify(stop)}`);
  return Number(seconds);
}
const bytesOf = (quantity: string) => {
  const m = /^(\d+)(Ki|Mi|Gi|M|G)?$/.exec(quantity);
  if (!m) throw new Error(`quantity ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
};

/** The settings the pod gets: the ConfigMap and the Secret, read by the service's own schema. */
const podEnv = {
  ...(configMap.data as Record<string, string>),
  ...(secret.stringData as Record<string, string>),
};
const config = loadConfig(schema, { env: podEnv, files: false });

/** The "draining" line the lifecycle logs on SIGTERM: its resolved delay and drain timeout. */
interface Draining {
  readinessDelayMs: number;
  drainTimeoutMs: number;
}
function drainingLine(output: string): Draining {
  for (const line of output.split('\n')) {
    if (!line.includes('draining: readiness answers 503')) continue;
    return JSON.parse(line) as Draining;
  }
  throw new Error(`no draining line in:\n${output}`);
}

describe('the glass-standardizer Deployment', () => {
  const hasRedis = toolAvailable('redis-server', 'the shutdown hooks are counted without Redis');
  const dir = mkdtempSync(join(tmpdir(), 'glass-k8s-'));
  let redis: SpareRedis | undefined;
  let glass: ChildGlass;
  let startupMs: number;
  let draining: Draining;
  let report: ShutdownReport;
  let defaults: { draining: Draining; hookTimeoutMs: number };
  const probes: Record<string, number> = {};

  beforeAll(async () => {
    redis = hasRedis ? await startSpareRedis() : undefined;
    // The lifecycle's own defaults, as the built package resolves them in production: the
    // draining line gives the delay and drain timeout, a hook that never ends the hook timeout.
    const measuredDefaults = (async () => {
      const lines: Draining[] = [];
      const logger = {
        info: (message: string, meta?: object) => {
          if (message.includes('draining')) lines.push(meta as Draining);
        },
        warn: () => undefined,
        error: () => undefined,
      };
      const previous = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      const lifecycle = createLifecycle({ exit: false, signals: [], logger });
      process.env.NODE_ENV = previous;
      lifecycle.markReady();
      lifecycle.onShutdown(
        'never ends',
        (signal) =>
          new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
      );
      const r = await lifecycle.shutdown();
      lifecycle.dispose();
      const hook = r.hooks[0];
      if (!lines[0] || hook?.status !== 'timed out') throw new Error(JSON.stringify(r));
      return { draining: lines[0], hookTimeoutMs: hook.durationMs };
    })();

    const started = performance.now();
    // The pod's settings, but on loopback and a free port (spawnGlass's), in a temp dir.
    const { PORT: _port, HOST: _host, ...settings } = configMap.data as Record<string, string>;
    glass = await spawnGlass({
      ...settings,
      ADMIN_TOKEN: String(get(secret, 'stringData.ADMIN_TOKEN')),
      ...(redis ? { REDIS_URL: redis.url } : {}),
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'logs'),
    });
    startupMs = performance.now() - started;
    for (const path of ['/health/startup', '/health/ready', '/health/live', '/ready', '/metrics'])
      probes[path] = (await fetch(`${glass.url}${path}`)).status;
    const exit = await glass.stop();
    expect(exit.code).toBe(0);
    draining = drainingLine(glass.output());
    const reportLine = glass
      .output()
      .split('\n')
      .find((l) => l.includes('shutdown report'));
    report = JSON.parse(reportLine ?? '{}') as ShutdownReport;
    defaults = await measuredDefaults;
  }, 90_000);

  afterAll(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probes paths the running service answers with 200 (and not the unmounted /ready)', () => {
    expect(glassContainer.startupProbe.httpGet.path).toBe('/health/startup');
    expect(glassContainer.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(glassContainer.livenessProbe.httpGet.path).toBe('/health/live');
    for (const probe of [
      glassContainer.startupProbe,
      glassContainer.readinessProbe,
      glassContainer.livenessProbe,
    ])
      expect(probes[probe.httpGet.path], probe.httpGet.path).toBe(200);
    expect(probes['/ready']).toBe(404);
  });

  it('ports: the named container port is PORT as the schema reads the ConfigMap; Service and ServiceMonitor use it', () => {
    const http = glassContainer.ports.find((p) => p.name === 'http');
    expect(http?.containerPort).toBe(config.PORT);
    for (const probe of [
      glassContainer.startupProbe,
      glassContainer.readinessProbe,
      glassContainer.livenessProbe,
    ])
      expect(probe.httpGet.port).toBe('http');
    const servicePort = get<{ name: string; targetPort: string }[]>(service, 'spec.ports')[0];
    expect(servicePort?.targetPort).toBe('http');
    const endpoint = get<{ port: string; path: string }[]>(monitor, 'spec.endpoints')[0];
    expect(endpoint?.port).toBe(servicePort?.name);
    expect(endpoint?.path).toBe('/metrics');
    expect(probes['/metrics']).toBe(200);
    expect(config.HOST).toBe('0.0.0.0');
  });

  it('the ConfigMap and Secret are valid settings of the service (its own schema, production)', () => {
    expect(config.NODE_ENV).toBe('production');
    for (const key of Object.keys(podEnv))
      expect(Object.keys(schema).concat('NODE_ENV'), key).toContain(key);
    // The running service resolved the same shutdown timings from them.
    expect(draining.readinessDelayMs).toBe(config.READINESS_DELAY_MS);
    expect(draining.drainTimeoutMs).toBe(config.DRAIN_TIMEOUT_MS);
  });

  it('readiness fails within READINESS_DELAY_MS of SIGTERM', () => {
    const t = probeTiming(glassContainer.readinessProbe);
    expect((t.period * t.failures + t.timeout) * 1000).toBeLessThanOrEqual(
      draining.readinessDelayMs,
    );
  });

  it('terminationGracePeriodSeconds covers preStop + READINESS_DELAY_MS + DRAIN_TIMEOUT_MS + the shutdown hooks', () => {
    const hooks = report.hooks.length + (redis ? 0 : 1);
    expect(report.hooks.map((h) => h.name)).toEqual(expect.arrayContaining(['storage', 'cache']));
    const needed =
      preStopSeconds(glassContainer) +
      draining.readinessDelayMs / 1000 +
      draining.drainTimeoutMs / 1000 +
      (hooks * defaults.hookTimeoutMs) / 1000;
    const grace = get<number>(podSpec(deployment), 'terminationGracePeriodSeconds');
    expect(preStopSeconds(glassContainer)).toBeGreaterThan(0);
    expect(grace).toBeGreaterThanOrEqual(Math.ceil(needed));
    // …with a margin, not an arbitrary hour.
    expect(grace).toBeLessThanOrEqual(Math.ceil(needed) + 20);
  });

  it('the startup probe allows many times the measured start', () => {
    const t = probeTiming(glassContainer.startupProbe);
    expect(t.period * t.failures * 1000).toBeGreaterThan(5 * startupMs);
  });

  it('runs non-root on a read-only root filesystem, with every written path mounted', () => {
    const pod = get<Doc>(podSpec(deployment), 'securityContext');
    expect(pod.runAsNonRoot).toBe(true);
    const dockerUser = /^USER (\d+)/m.exec(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'))?.[1];
    expect(pod.runAsUser).toBe(Number(dockerUser));
    expect(glassContainer.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const mounts = (glassContainer.volumeMounts ?? []).map((m) => m.mountPath);
    expect(mounts).toEqual(expect.arrayContaining([config.DATA_DIR, config.LOG_DIR, '/tmp']));
    // The image's defaults are the ConfigMap's, so the volumes are where the service writes.
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`DATA_DIR=${config.DATA_DIR}`);
    expect(dockerfile).toContain(`LOG_DIR=${config.LOG_DIR}`);
  });

  it('resources: requests and a memory limit that the memory alert and compose agree with', () => {
    const { requests, limits } = glassContainer.resources;
    expect(requests.cpu).toBeTruthy();
    expect(requests.memory).toBeTruthy();
    const limit = bytesOf(limits.memory as string);
    const rules = readFileSync(join(DEPLOY, 'prometheus/rules/glass.rules.yml'), 'utf8');
    const ruleLimit = /process_resident_memory_bytes\{[^}]*\} \/ \((\d+) \* 1024 \* 1024\)/.exec(
      rules,
    );
    expect(Number(ruleLimit?.[1]) * 1024 * 1024).toBe(limit);
    const compose = readYaml(join(DEPLOY, 'compose.yaml'));
    expect(get(compose, 'services.app1.deploy.resources.limits.memory')).toBe(
      `${limit / 1024 / 1024}M`,
    );
  });

  it('Service, PodDisruptionBudget, HPA and ServiceMonitor select the Deployment', () => {
    const labels = get<Record<string, string>>(deployment, 'spec.template.metadata.labels');
    const matches = (selector: Record<string, string>) =>
      Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(matches(get(service, 'spec.selector'))).toBe(true);
    expect(matches(get(pdb, 'spec.selector.matchLabels'))).toBe(true);
    expect(
      Object.entries(get<Record<string, string>>(monitor, 'spec.selector.matchLabels')).every(
        ([k, v]) => get<Record<string, string>>(service, 'metadata.labels')[k] === v,
      ),
    ).toBe(true);
    expect(get(hpa, 'spec.scaleTargetRef')).toMatchObject({
      kind: 'Deployment',
      name: get(deployment, 'metadata.name'),
    });
    // A node drain can always evict one pod: more replicas than the budget keeps.
    expect(get<number>(hpa, 'spec.minReplicas')).toBeGreaterThan(
      get<number>(pdb, 'spec.minAvailable'),
    );
    expect(get(deployment, 'spec.strategy.rollingUpdate.maxUnavailable')).toBe(0);
    // The scrape token: a key of the Secret the pods get as METRICS_TOKEN.
    const token = get<{ name: string; key: string }>(
      monitor,
      'spec.endpoints.0.authorization.credentials',
    );
    expect(token.key).toBe('METRICS_TOKEN');
    expect(token.name).toBe(get(secret, 'metadata.name'));
    expect(Object.keys(get<Record<string, string>>(secret, 'stringData'))).toContain(
      'METRICS_TOKEN',
    );
    // The job label the alert rules and the dashboard select on.
    expect(get(monitor, 'spec.endpoints.0.relabelings.0')).toMatchObject({
      targetLabel: 'job',
      replacement: 'glass',
    });
  });

  it('a pinned image, the same tag in kustomization.yaml; the Secret stays out of it', () => {
    const [, tag] = glassContainer.image.split(':');
    expect(tag).toMatch(/^\d+\.\d+\.\d+$/);
    expect(get(kustomization, 'images.0.newTag')).toBe(tag);
    const resources = kustomization.resources as string[];
    expect(resources).not.toContain('secret.example.yaml');
    for (const file of ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'hpa.yaml'])
      expect(resources).toContain(file);
  });

  it('the systemd unit (bare VM) runs node directly, non-root, and waits long enough to stop', () => {
    const unit = readFileSync(join(DEPLOY, 'systemd/glass-standardizer.service'), 'utf8');
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
    expect(value('ExecStart')).toBe('/usr/bin/node examples/glass-standardizer/dist/main.js');
    expect(value('User')).toBe('glass');
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(value('RestartPreventExitStatus')).toBe('78');
    // The unit leaves READINESS_DELAY_MS and DRAIN_TIMEOUT_MS to their production defaults.
    expect(unit).not.toMatch(/^Environment=(READINESS_DELAY_MS|DRAIN_TIMEOUT_MS)=/m);
    const vm = loadConfig(schema, {
      env: { NODE_ENV: 'production', ADMIN_TOKEN: 'x'.repeat(32) },
      files: false,
    });
    const hooks = report.hooks.length + (redis ? 0 : 1);
    const needed =
      defaults.draining.readinessDelayMs / 1000 +
      vm.DRAIN_TIMEOUT_MS / 1000 +
      (hooks * defaults.hookTimeoutMs) / 1000;
    expect(Number(value('TimeoutStopSec'))).toBeGreaterThanOrEqual(Math.ceil(needed));
  });

  describe("@shipshape/lifecycle's examples/kubernetes.yaml", () => {
    const example = lifecycleExample.find((d) => d.kind === 'Deployment') as Doc;
    const container = containerOf(example);
    let server: Server;
    let url: string;

    beforeAll(async () => {
      // @shipshape/health's router as harden() mounts it, ready, on a real server.
      const health = createHealth({ defaultMetrics: false, processMetrics: false });
      health.markReady();
      const router = health.router();
      server = createServer((req, res) =>
        router(req, res, () => {
          res.statusCode = 404;
          res.end();
        }),
      );
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const address = server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      return async () => {
        server.close();
        await health.close();
      };
    });

    it("probes paths that @shipshape/health's router answers", async () => {
      for (const probe of [
        container.startupProbe,
        container.readinessProbe,
        container.livenessProbe,
      ])
        expect((await fetch(`${url}${probe.httpGet.path}`)).status, probe.httpGet.path).toBe(200);
      expect((await fetch(`${url}/ready`)).status).toBe(404);
    });

    it("timings fit the lifecycle's real defaults (3 hooks, as its comment says)", () => {
      const t = probeTiming(container.readinessProbe);
      expect((t.period * t.failures + t.timeout) * 1000).toBeLessThanOrEqual(
        defaults.draining.readinessDelayMs,
      );
      const needed =
        preStopSeconds(container) +
        defaults.draining.readinessDelayMs / 1000 +
        defaults.draining.drainTimeoutMs / 1000 +
        (3 * defaults.hookTimeoutMs) / 1000;
      expect(get<number>(podSpec(example), 'terminationGracePeriodSeconds')).toBeGreaterThanOrEqual(
        Math.ceil(needed),
      );
      expect(container.ports[0]?.name).toBe('http');
      expect(container.readinessProbe.httpGet.port).toBe('http');
    });
  });
});
