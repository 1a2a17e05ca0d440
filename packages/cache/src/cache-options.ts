import {
  checkNonNegativeNumber,
  checkPositiveInteger,
  checkPositiveNumber,
  invalidOption,
  warnUnknownOptions,
} from './errors.js';
import { memoryStore } from './memory-store.js';
import { jsonSerializer } from './serializer.js';
import type { CacheLogger, CacheOptions, CacheSerializer, CacheStore } from './types.js';

const KNOWN: { [K in keyof Required<CacheOptions>]: true } = {
  name: true,
  store: true,
  ttl: true,
  staleWhileRevalidate: true,
  serializer: true,
  logger: true,
  lock: true,
  errorLogIntervalMs: true,
  maxKeyLength: true,
};

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface LockConfig {
  readonly ttl: number;
  readonly wait: number;
  readonly retryInterval: number;
}

/** `createCache` options, checked once and with their defaults filled in. */
export interface CacheConfig {
  readonly name: string;
  readonly store: CacheStore;
  readonly ttl: number;
  readonly staleWhileRevalidate: number;
  readonly serializer: CacheSerializer;
  readonly logger: CacheLogger | undefined;
  readonly errorLogIntervalMs: number;
  readonly maxKeyLength: number;
  readonly lock: LockConfig | undefined;
}

export function resolveCacheOptions(options: CacheOptions): CacheConfig {
  const where = 'createCache';
  if (typeof options !== 'object' || options === null)
    throw invalidOption(where, 'options', options, 'an object');
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name))
    throw invalidOption(
      where,
      'name',
      name,
      'letters, digits, "_", "." or "-" (1 to 64 characters)',
    );
  const store: CacheStore = options.store ?? memoryStore();
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function'
  )
    throw invalidOption(
      where,
      'store',
      store,
      'a store (memoryStore(), redisStore() or tieredStore())',
    );
  const ttl = checkPositiveNumber(where, 'ttl', options.ttl ?? 300_000);
  const staleWhileRevalidate = checkNonNegativeNumber(
    where,
    'staleWhileRevalidate',
    options.staleWhileRevalidate ?? 0,
  );
  const serializer = options.serializer ?? jsonSerializer();
  if (typeof serializer?.serialize !== 'function' || typeof serializer.deserialize !== 'function')
    throw invalidOption(
      where,
      'serializer',
      serializer,
      'an object with serialize(value) and deserialize(raw)',
    );
  const logger: CacheLogger | undefined = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || typeof logger.warn !== 'function'))
    throw invalidOption(where, 'logger', logger, 'an object with info, warn and error methods');
  warnUnknownOptions(where, options, KNOWN, logger);
  const errorLogIntervalMs = checkPositiveNumber(
    where,
    'errorLogIntervalMs',
    options.errorLogIntervalMs ?? 60_000,
  );
  const maxKeyLength = checkPositiveInteger(where, 'maxKeyLength', options.maxKeyLength ?? 200);
  const lockOption = options.lock ?? {};
  let lock: LockConfig | undefined;
  if (lockOption !== false) {
    if (typeof lockOption !== 'object' || lockOption === null)
      throw invalidOption(where, 'lock', lockOption, 'false or { ttl, wait, retryInterval }');
    lock = {
      ttl: checkPositiveNumber(where, 'lock.ttl', lockOption.ttl ?? 5000),
      wait: checkNonNegativeNumber(where, 'lock.wait', lockOption.wait ?? 5000),
      retryInterval: checkPositiveNumber(
        where,
        'lock.retryInterval',
        lockOption.retryInterval ?? 25,
      ),
    };
  }
  return {
    name,
    store,
    ttl,
    staleWhileRevalidate,
    serializer,
    logger,
    errorLogIntervalMs,
    maxKeyLength,
    lock,
  };
}
