import { CacheError } from './errors.js';
import type { CacheSerializer } from './types.js';

function describePath(path: readonly string[]): string {
  return path.length === 0 ? 'the value' : `the value at ${path.join('.')}`;
}

/**
 * JSON that refuses what JSON would silently change: functions, symbols, bigints, Maps, Sets,
 * non-finite numbers and cycles throw a CacheError at `serialize`. `undefined` object properties
 * are dropped, as JSON does; a top-level `undefined` is rejected.
 */
export function jsonSerializer(): CacheSerializer {
  return {
    serialize(value: unknown): string {
      const path: string[] = [];
      const check = (current: unknown, at: string[], seen: Set<object>): void => {
        switch (typeof current) {
          case 'function':
            throw unserialisable(`${describePath(at)} is a function`);
          case 'symbol':
            throw unserialisable(`${describePath(at)} is a symbol`);
          case 'bigint':
            throw unserialisable(`${describePath(at)} is a bigint`);
          case 'number':
            if (!Number.isFinite(current))
              throw unserialisable(`${describePath(at)} is ${current} (not representable in JSON)`);
            return;
          case 'undefined':
            if (at.length === 0) throw unserialisable('the value is undefined');
            return;
          case 'object': {
            if (current === null) return;
            if (seen.has(current))
              throw unserialisable(`${describePath(at)} is a circular reference`);
            if (current instanceof Map || current instanceof Set || current instanceof WeakMap)
              throw unserialisable(
                `${describePath(at)} is a ${current.constructor.name} (JSON would turn it into {})`,
              );
            if (typeof (current as { toJSON?: unknown }).toJSON === 'function') return;
            seen.add(current);
            if (Array.isArray(current)) {
              current.forEach((item, index) => {
                check(item, [...at, String(index)], seen);
              });
            } else {
              for (const [key, item] of Object.entries(current)) check(item, [...at, key], seen);
            }
            seen.delete(current);
            return;
          }
          default:
            return;
        }
      };
      check(value, path, new Set());
      return JSON.stringify(value);
    },
    deserialize(raw: string): unknown {
      return JSON.parse(raw);
    },
  };
}

function unserialisable(reason: string): CacheError {
  return new CacheError(
    'UNSERIALISABLE_VALUE',
    `cannot cache a value that JSON cannot represent: ${reason}`,
  );
}
