import { describe, expect, expectTypeOf, it } from 'vitest';
import type winston from 'winston';
import { createLogger, type Logger, type LoggerLike, runWithRequestContext } from '../src/index.js';
import { createTestLogger } from '../src/testing.js';

describe('createTestLogger', () => {
  it('captures structured, redacted records with context; find / expectLogged / clear', async () => {
    const { logger, records, find, expectLogged, clear } = createTestLogger({
      secretValues: ['sekret-value'],
    });
    logger.info('user created', { userId: 1, password: 'p' });
    runWithRequestContext({ requestId: 'r-9' }, () =>
      logger.warn('slow query sekret-value', { ms: 900 }),
    );
    logger.security('rate_limited', { ip: '1.1.1.1' });

    expect(records).toHaveLength(3);
    expect(records[0]).toMatchObject({
      message: 'user created',
      userId: 1,
      password: '[REDACTED]',
    });
    expect(find({ level: 'warn' })).toHaveLength(2);
    expect(find({ requestId: 'r-9', message: /^slow query/ })).toEqual([
      expect.objectContaining({ message: 'slow query [REDACTED]', ms: 900 }),
    ]);
    expect(find((r) => r.stream === 'security')).toHaveLength(1);
    expect(expectLogged({ event: 'rate_limited' }).ip).toBe('1.1.1.1');
    expect(() => expectLogged({ message: 'never logged' })).toThrow(
      /expected a log record matching \{"message":"never logged"\}, but none of the 3 records matched\.\nLast records:\n {2}\{/,
    );
    clear();
    expect(records).toHaveLength(0);
    expect(() => expectLogged({ level: 'info' })).toThrow(/none of the 0 records matched\.$/);
    await logger.close();
  });

  it('nested partial matching and predicates', async () => {
    const { logger, find } = createTestLogger();
    logger.error('failed', { err: new Error('x', { cause: new Error('root cause') }) });
    expect(find({ err: { cause: { message: 'root cause' } } })).toHaveLength(1);
    expect(find({ err: { cause: { message: 'other' } } })).toHaveLength(0);
    await logger.close();
  });

  it('respects the level like production (setLevel changes what is captured)', async () => {
    const { logger, records } = createTestLogger({ level: 'info' });
    logger.debug('dropped');
    logger.setLevel('debug');
    logger.debug('kept');
    expect(records.map((r) => r.message)).toEqual(['kept']);
    await logger.close();
  });
});

describe('types', () => {
  it('a shipshape Logger and a plain winston logger satisfy the structural LoggerLike', () => {
    expectTypeOf<Logger>().toExtend<LoggerLike>();
    expectTypeOf<winston.Logger>().toExtend<LoggerLike>();
    expectTypeOf(createLogger).returns.toExtend<LoggerLike>();
    expectTypeOf<Logger['close']>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<Logger['security']>().toExtend<NonNullable<LoggerLike['security']>>();
  });
});
