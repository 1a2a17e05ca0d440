import { performance } from 'node:perf_hooks';
import { invalidArgument, invalidOption, PKG, show } from './config.js';
import type { HookResult, StepFunction, StepOptions } from './types.js';

/** A startup check or a shutdown hook, with its own timeout. */
export interface Step {
  readonly name: string;
  readonly fn: StepFunction;
  readonly timeoutMs: number;
}

export const now = () => performance.now();
export const ms = (from: number, to: number) => Math.round(to - from);

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : show(error);
}

export function validateName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidArgument(`${kind} name must be a non-empty string, got ${show(name)}`);
  }
  return name;
}

export function validateFn(kind: string, name: string, fn: unknown): void {
  if (typeof fn !== 'function') {
    throw invalidArgument(`${kind} "${name}" must be a function, got ${show(fn)}`);
  }
}

function stepTimeout(kind: string, name: string, options: unknown, fallback: number): number {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object') {
    throw invalidOption(`${kind} "${name}" options must be an object, got ${show(options)}`);
  }
  const value = (options as StepOptions).timeoutMs;
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
    throw invalidOption(
      `${kind} "${name}" timeoutMs must be a non-negative integer number of milliseconds, got ${show(value)}`,
    );
  }
  return value;
}

/**
 * Validates and appends a step to `list`; returns the function that removes it again.
 * `fallback` is the timeout when the step's options give none.
 */
export function register(
  list: Step[],
  kind: string,
  name: unknown,
  fn: unknown,
  options: unknown,
  fallback: number,
): () => void {
  const valid = validateName(kind, name);
  validateFn(kind, valid, fn);
  const step: Step = {
    name: valid,
    fn: fn as StepFunction,
    timeoutMs: stepTimeout(kind, valid, options, fallback),
  };
  list.push(step);
  return () => {
    const i = list.indexOf(step);
    if (i >= 0) list.splice(i, 1);
  };
}

/** Runs one step with its own timeout; the step's signal aborts when the timeout passes. */
export async function runStep(step: Step): Promise<HookResult> {
  const started = now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`${PKG}: "${step.name}" timed out after ${step.timeoutMs} ms`));
      resolve('timed out');
    }, step.timeoutMs);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => step.fn(controller.signal))
        .then(() => 'ok' as const),
      timedOut,
    ]);
    return { name: step.name, status: outcome, durationMs: ms(started, now()) };
  } catch (error) {
    return {
      name: step.name,
      status: 'failed',
      durationMs: ms(started, now()),
      error: errorMessage(error),
    };
  } finally {
    clearTimeout(timer);
  }
}
