import { invalidArgument, PKG, show } from './config.js';
import type { Log, Warn } from './log.js';
import { errorMessage, validateFn, validateName } from './steps.js';
import type { TaskFunction } from './types.js';

interface Work {
  readonly name: string;
  readonly controller: AbortController | undefined;
}

/**
 * Background work the drain waits for: promises given to `track()` and functions run by
 * `task()`. Once the drain is over (`closeDrain()`), nothing new is waited for.
 */
export class TrackedWork {
  private readonly work = new Map<number, Work>();
  private lastId = 0;
  private completedCount = 0;
  private pastDrain = false;
  private readonly log: Log;
  private readonly warn: Warn;
  private readonly onChange: () => void;

  constructor(log: Log, warn: Warn, onChange: () => void) {
    this.log = log;
    this.warn = warn;
    this.onChange = onChange;
  }

  /** Work still running. */
  get size(): number {
    return this.work.size;
  }

  /** Work that settled. */
  get completed(): number {
    return this.completedCount;
  }

  track<T>(promise: Promise<T>, name: string): Promise<T> {
    if (!promise || typeof (promise as { then?: unknown }).then !== 'function') {
      throw invalidArgument(`track() needs a promise, got ${show(promise)}`);
    }
    if (this.pastDrain) {
      this.warn(
        'SHIPSHAPE_LIFECYCLE_LATE_WORK',
        `"${name}" was tracked after the drain ended: nothing waits for it`,
        { work: name },
      );
      return promise;
    }
    const settle = this.add(name, undefined);
    promise.then(settle, settle);
    return promise;
  }

  task<T>(name: string, fn: TaskFunction<T>): Promise<T> {
    validateName('task', name);
    validateFn('task', name, fn);
    if (this.pastDrain) {
      return Promise.reject(
        new Error(`${PKG}: task "${name}" refused: shutdown is past the drain phase`),
      );
    }
    const controller = new AbortController();
    const settle = this.add(name, controller);
    const promise = Promise.resolve().then(() => fn(controller.signal));
    // This handler also marks the promise handled: a caller that fires and forgets gets the
    // failure logged here rather than an unhandledRejection.
    promise.then(settle, (error: unknown) => {
      if (!controller.signal.aborted) {
        this.log('error', `task "${name}" failed: ${errorMessage(error)}`, { task: name });
      }
      settle();
    });
    return promise;
  }

  /** The drain timeout: aborts every task's signal and forgets all work; returns the names. */
  interruptAll(): string[] {
    const names: string[] = [];
    for (const w of this.work.values()) {
      names.push(w.name);
      w.controller?.abort(new Error(`${PKG}: "${w.name}" interrupted by shutdown`));
    }
    this.work.clear();
    return names;
  }

  /** The drain is over: `track()` only warns and `task()` refuses from now on. */
  closeDrain(): void {
    this.pastDrain = true;
  }

  private add(name: string, controller: AbortController | undefined): () => void {
    const id = ++this.lastId;
    this.work.set(id, { name, controller });
    return () => {
      if (this.work.delete(id)) this.completedCount++;
      this.onChange();
    };
  }
}
