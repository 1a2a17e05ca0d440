// The availability state (starting → ready → draining → stopped) and its transitions.
import { push } from './ring.js';
import type { AvailabilityState, HealthLogger, StateTransition } from './types.js';
import { fail } from './validate.js';

export const STATES: readonly AvailabilityState[] = ['starting', 'ready', 'draining', 'stopped'];

export interface Availability {
  readonly state: AvailabilityState;
  /** Validates `next`; a change is kept in the history and logged. */
  set(next: AvailabilityState): void;
  /** The last transitions, oldest first (a copy). */
  transitions(): StateTransition[];
}

export function createAvailability(
  initial: AvailabilityState,
  historySize: number,
  logger: HealthLogger | undefined,
): Availability {
  let state = initial;
  const transitions: StateTransition[] = [];
  return {
    get state() {
      return state;
    },
    set(next) {
      if (!STATES.includes(next)) {
        fail('setState', 'state', next, `one of ${STATES.map((s) => `"${s}"`).join(', ')}`);
      }
      if (next === state) return;
      const t: StateTransition = { time: new Date().toISOString(), from: state, to: next };
      state = next;
      push(transitions, t, historySize);
      logger?.info(`health state ${t.from} -> ${t.to}`, { from: t.from, to: t.to });
    },
    transitions: () => [...transitions],
  };
}
