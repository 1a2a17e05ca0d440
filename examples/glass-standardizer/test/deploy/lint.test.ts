// Static checks of the Dockerfile and compose.yaml (the hadolint and compose rules that matter
// here); each checker is also shown to catch a bad sample, so none of them can pass vacuously.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, type Doc, get, REPO, readYaml } from './support.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buffer === '' && (line === '' || line.startsWith('#'))) return;
    if (buffer === '') start = i + 1;
    if (line.startsWith('#')) return;
    buffer += `${line.replace(/\\$/, '')} `;
    if (line.endsWith('\\')) return;
    const m = /^(\S+)\s*(.*)$/.exec(buffer.trim());
    if (m)
      out.push({ op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: start });
    buffer = '';
  });
  return out;
}

/** Problems of a Dockerfile, hadolint-style (DL3006/DL3007, DL3002, DL3016/npm ci…). */
export function lintDockerfile(text: string): string[] {
  const problems: string[] = [];
  const all = instructions(text);
  const froms = all.filter((i) => i.op === 'FROM');
  const stages = new Set(froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]?.toLowerCase()));
  if (froms.length < 2) problems.push('not a multi-stage build (one FROM)');
  for (const from of froms) {
    const image = from.args.split(/\s+/)[0] as string;
    if (stages.has(image.toLowerCase())) continue;
    const tag = /^[^@]+:([^@/]+)(@sha256:[a-f0-9]{64})?$/.exec(image);
    if (!tag && !/@sha256:[a-f0-9]{64}$/.test(image))
      problems.push(`line ${from.line}: base image ${image} has no tag (DL3006)`);
    else if (tag && /latest|lts|current/.test(tag[1] as string))
      problems.push(`line ${from.line}: base image ${image} uses a moving tag (DL3007)`);
    else if (tag && !/\d+\.\d+\.\d+/.test(tag[1] as string) && !tag[2])
      problems.push(`line ${from.line}: base image ${image} is not pinned to a patch version`);
  }
  const finalStage = all.slice(all.lastIndexOf(froms[froms.length - 1] as Instruction));
  const users = finalStage.filter((i) => i.op === 'USER');
  const lastUser = users[users.length - 1]?.args;
  if (!lastUser) problems.push('the final stage sets no USER: runs as root (DL3002)');
  else if (/^(root|0)(:|$)/.test(lastUser)) problems.push(`final USER is ${lastUser} (DL3002)`);
  const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
  if (runs.some((r) => /\bnpm\s+(install|i)\b/.test(r)))
    problems.push('npm install in a RUN: use npm ci with the lockfile');
  if (!runs.some((r) => /\bnpm\s+ci\b/.test(r))) problems.push('no npm ci');
  if (!runs.some((r) => /\bnpm\s+ci\b.*--omit=dev/.test(r)))
    problems.push('no production-only install (npm ci --omit=dev)');
  if (!all.some((i) => i.op === 'COPY' && /package-lock\.json/.test(i.args)))
    problems.push('the lockfile is not copied before npm ci');
  if (runs.some((r) => /apt-get install(?!.*--no-install-recommends)/.test(r)))
    problems.push('apt-get install without --no-install-recommends (DL3015)');
  if (runs.some((r) => /apt-get install/.test(r) && !/rm -rf \/var\/lib\/apt\/lists/.test(r)))
    problems.push('apt lists not removed in the same RUN (DL3009)');
  if (!finalStage.some((i) => i.op === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)))
    problems.push('NODE_ENV=production is not set in the final stage');
  const health = finalStage.find((i) => i.op === 'HEALTHCHECK');
  if (!health) problems.push('no HEALTHCHECK');
  else if (!health.args.includes('/health/live'))
    problems.push('HEALTHCHECK does not probe /health/live');
  const entry = finalStage.find((i) => i.op === 'ENTRYPOINT')?.args ?? '';
  if (!/tini|dumb-init/.test(entry)) problems.push('no init process (tini) as ENTRYPOINT');
  const cmd = finalStage.find((i) => i.op === 'CMD')?.args ?? '';
  if (!cmd.startsWith('[')) problems.push('CMD in shell form: node would not receive SIGTERM');
  if (/\bnpm\b/.test(cmd)) problems.push('CMD runs npm: signals stop at npm, use node');
  const volumes = finalStage
    .filter((i) => i.op === 'VOLUME')
    .map((i) => i.args)
    .join(' ');
  const env = finalStage
    .filter((i) => i.op === 'ENV')
    .map((i) => i.args)
    .join(' ');
  for (const name of ['DATA_DIR', 'LOG_DIR']) {
    const dir = new RegExp(`${name}=(\\S+)`).exec(env)?.[1];
    if (!dir) problems.push(`${name} is not set`);
    else if (!volumes.includes(dir)) problems.push(`${name} (${dir}) is not a VOLUME`);
  }
  if (all.some((i) => i.op === 'ADD')) problems.push('ADD used: use COPY (DL3020)');
  return problems;
}

const SECRET_KEY = /(PASSWORD|TOKEN|SECRET|_URL$|API_KEY|PRIVATE)/;
/** Values that are not secrets even under a secret-looking key (a local URL without credentials). */
const harmless = (value: string) => value === '' || /^\$\{[A-Z_]+/.test(value);

/** Problems of a compose file: health checks, limits, pinned images, secrets kept out of it. */
export function lintCompose(doc: Doc, dir: string): string[] {
  const problems: string[] = [];
  const services = (doc.services ?? {}) as Record<string, Doc>;
  if (Object.keys(services).length === 0) problems.push('no services');
  for (const [name, service] of Object.entries(services)) {
    const test = get<unknown>(service, 'healthcheck.test');
    if (!test || get(service, 'healthcheck.disable') === true)
      problems.push(`${name}: no healthcheck`);
    if (!get(service, 'deploy.resources.limits.memory'))
      problems.push(`${name}: no memory limit (deploy.resources.limits.memory)`);
    if (!get(service, 'deploy.resources.limits.cpus'))
      problems.push(`${name}: no CPU limit (deploy.resources.limits.cpus)`);
    const image = String(service.image ?? '');
    if (!image) problems.push(`${name}: no image`);
    else if (!/:[^:/]+$/.test(image.replace(/\$\{[^}]*\}/g, 'x')) || /:latest$/.test(image))
      problems.push(`${name}: image ${image} is not pinned to a tag`);
    const environment = service.environment ?? {};
    const entries = Array.isArray(environment)
      ? (environment as string[]).map((e) => e.split('=', 2) as [string, string?])
      : Object.entries(environment as Record<string, unknown>).map(
          ([k, v]) => [k, v === null || v === undefined ? undefined : String(v)] as const,
        );
    for (const [key, value] of entries)
      if (SECRET_KEY.test(key) && value !== undefined && !harmless(value))
        problems.push(`${name}: secret ${key} written inline; put it in an env_file`);
    for (const file of (service.env_file ?? []) as (string | { path: string })[]) {
      const path = typeof file === 'string' ? file : file.path;
      if (!existsSync(join(dir, `${path}.example`)))
        problems.push(`${name}: env_file ${path} has no ${path}.example template`);
    }
    const command = [service.command ?? ''].flat().join(' ');
    if (/(requirepass|password)\s+["']?[^"'$\s]/i.test(command))
      problems.push(`${name}: a secret written into the command`);
  }
  return problems;
}

const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
const compose = readYaml(join(DEPLOY, 'compose.yaml'));

describe('Dockerfile', () => {
  it('passes the lint', () => {
    expect(lintDockerfile(dockerfile)).toEqual([]);
  });

  it('the lint catches what it checks', () => {
    const bad = [
      'FROM node:latest',
      'COPY . .',
      'RUN npm install && apt-get install -y curl',
      'CMD npm start',
    ].join('\n');
    const problems = lintDockerfile(bad).join('\n');
    for (const expected of [
      'multi-stage',
      'moving tag',
      'no USER',
      'npm install',
      'no npm ci',
      'lockfile',
      '--no-install-recommends',
      'NODE_ENV',
      'HEALTHCHECK',
      'tini',
      'shell form',
      'DATA_DIR',
    ])
      expect(problems).toContain(expected);
    expect(lintDockerfile(dockerfile.replace('USER 10001:10001', 'USER root'))).toEqual([
      'final USER is root (DL3002)',
    ]);
    expect(
      lintDockerfile(dockerfile.replaceAll('node:20.19.5-bookworm-slim', 'node:20-slim')),
    ).toContain('line 8: base image node:20-slim is not pinned to a patch version');
  });

  it('builds the example and the workspace packages it depends on from the repository root', () => {
    const pkg = JSON.parse(
      readFileSync(join(REPO, 'examples/glass-standardizer/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> };
    // Every workspace package the example uses, and the ones they use, is copied and built.
    const workspace = Object.keys(pkg.dependencies).filter(
      (d) => d === 'shipshape' || d.startsWith('@shipshape/'),
    );
    expect(workspace.length).toBeGreaterThan(0);
    const dirs = new Set<string>();
    const visit = (name: string) => {
      const dir = name === 'shipshape' ? 'shipshape' : name.replace('@shipshape/', '');
      if (dirs.has(dir)) return;
      dirs.add(dir);
      const p = JSON.parse(readFileSync(join(REPO, 'packages', dir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      for (const d of Object.keys(p.dependencies ?? {}))
        if (d === 'shipshape' || d.startsWith('@shipshape/')) visit(d);
    };
    for (const d of workspace) visit(d);
    for (const dir of dirs) {
      expect(dockerfile).toContain(`COPY packages/${dir}/package.json packages/${dir}/`);
      expect(dockerfile).toContain(`/repo/packages/${dir}/dist packages/${dir}/dist`);
    }
    expect(dockerfile).toMatch(
      /turbo run build[\s\\]+--filter=@shipshape\/example-glass-standardizer\.\.\./,
    );
    expect(dockerfile).toContain('examples/glass-standardizer/dist/main.js');
  });

  it('has an ignore file for the root build context that keeps secrets and build output out', () => {
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const pattern of ['**/node_modules', '**/dist', '.git', '**/data', '**/logs', '**/.env'])
      expect(ignore).toContain(pattern);
    // What the build needs is not ignored.
    for (const needed of ['package-lock.json', 'packages', 'tsconfig.base.json', 'turbo.json'])
      expect(ignore).not.toContain(needed);
  });
});

describe('compose.yaml', () => {
  it('passes the lint: health checks and limits everywhere, pinned images, no inline secrets', () => {
    expect(lintCompose(compose, DEPLOY)).toEqual([]);
  });

  it('the lint catches what it checks', () => {
    const bad = {
      services: {
        web: { image: 'nginx:latest', environment: { ADMIN_TOKEN: 'hunter2-hunter2' } },
        db: {
          image: 'postgres',
          environment: ['POSTGRES_PASSWORD=secret'],
          command: ['redis-server', '--requirepass', 'abc'],
          env_file: ['missing.env'],
          healthcheck: { test: ['CMD', 'true'] },
          deploy: { resources: { limits: { memory: '1G', cpus: '1' } } },
        },
      },
    };
    expect(lintCompose(bad, DEPLOY)).toEqual([
      'web: no healthcheck',
      'web: no memory limit (deploy.resources.limits.memory)',
      'web: no CPU limit (deploy.resources.limits.cpus)',
      'web: image nginx:latest is not pinned to a tag',
      'web: secret ADMIN_TOKEN written inline; put it in an env_file',
      'db: image postgres is not pinned to a tag',
      'db: secret POSTGRES_PASSWORD written inline; put it in an env_file',
      'db: env_file missing.env has no missing.env.example template',
      'db: a secret written into the command',
    ]);
  });

  it('has the topology of the issue: nginx, two instances, Redis, PostgreSQL, Prometheus, Grafana', () => {
    const services = compose.services as Record<string, Doc>;
    expect(Object.keys(services).sort()).toEqual(
      ['app1', 'app2', 'grafana', 'nginx', 'postgres', 'prometheus', 'redis'].sort(),
    );
    const nginx = services.nginx as Doc;
    expect(nginx.volumes).toContain(
      './nginx/glass.conf.template:/etc/nginx/templates/glass.conf.template:ro',
    );
    expect(get(nginx, 'environment.GLASS_UPSTREAM_1')).toBe('app1:3000');
    expect(get(nginx, 'environment.GLASS_UPSTREAM_2')).toBe('app2:3000');
    for (const app of ['app1', 'app2']) {
      const service = services[app] as Doc;
      expect(get(service, 'build.dockerfile')).toBe(
        'examples/glass-standardizer/deploy/Dockerfile',
      );
      expect(get(service, 'read_only')).toBe(true);
      expect(get(service, 'environment.NODE_ENV')).toBe('production');
      // The app's secrets come from the env file, and its template lists all of them.
      const template = readFileSync(join(DEPLOY, 'secrets/app.env.example'), 'utf8');
      for (const key of ['ADMIN_TOKEN', 'DATABASE_URL', 'REDIS_URL'])
        expect(template).toMatch(new RegExp(`^${key}=`, 'm'));
    }
    // Prometheus mounts the same directory whose config and rules the topology test runs.
    expect(get<string[]>(services.prometheus, 'volumes')).toContain(
      './prometheus:/etc/prometheus:ro',
    );
    expect(readFileSync(join(DEPLOY, '.gitignore'), 'utf8')).toContain('secrets/*.env');
  });
});
