#!/usr/bin/env node
// glass-standardizer-keys: create, list and revoke API keys (hashed in DATA_DIR/auth/api-keys.json).
import { resolve } from 'node:path';
import { apiKeyId, hashApiKey } from '@shipshape/security';
import { openKeyFile } from './auth/key-file.js';
import { isRole, ROLES } from './auth/roles.js';

const USAGE = `usage: glass-standardizer-keys <command>
  create --role <${ROLES.join('|')}> [--name <text>]   a new key, printed once
  list                                               ids, roles, names, created, revoked
  revoke <key id>                                    refused from the next request on
  hash <key> [--role <role>]                         the API_KEYS entry of a key (id:role:sha256)
DATA_DIR (default ./data) says where the keys live; the running service sees changes within a second.
`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

const [command, ...args] = process.argv.slice(2);
const keys = openKeyFile(resolve(process.env.DATA_DIR ?? './data'));
switch (command) {
  case 'create': {
    const role = option(args, '--role') ?? '';
    if (!isRole(role)) {
      process.stderr.write(
        `glass-standardizer-keys: --role must be one of ${ROLES.join(', ')}\n${USAGE}`,
      );
      process.exit(64);
    }
    const { key, record } = keys.create(role, option(args, '--name') ?? `${role} key`);
    process.stdout.write(`${key}\n`);
    process.stderr.write(`created ${record.id} (${role}); the key above is shown once\n`);
    break;
  }
  case 'list':
    for (const k of keys.list())
      process.stdout.write(
        `${k.id}\t${k.roles.join(',')}\t${k.name ?? ''}\t${new Date(k.createdAt).toISOString()}\t${k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active'}\n`,
      );
    break;
  case 'revoke': {
    const id = args[0] ?? '';
    if (!keys.revoke(id)) {
      process.stderr.write(`glass-standardizer-keys: no active key ${JSON.stringify(id)}\n`);
      process.exit(1);
    }
    process.stderr.write(`revoked ${id}\n`);
    break;
  }
  case 'hash': {
    const key = args[0] ?? '';
    const role = option(args, '--role') ?? 'viewer';
    if (key.length < 24 || !isRole(role)) {
      process.stderr.write(
        `glass-standardizer-keys: hash needs a key of at least 24 characters and a valid --role\n${USAGE}`,
      );
      process.exit(64);
    }
    process.stdout.write(`${apiKeyId(key)}:${role}:${hashApiKey(key).slice(7)}\n`);
    break;
  }
  default:
    process.stderr.write(USAGE);
    process.exit(command === undefined || command === '--help' ? 0 : 64);
}
