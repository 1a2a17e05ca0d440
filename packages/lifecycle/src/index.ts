export { createLifecycle } from './lifecycle.js';
export type {
  DeadlineOverrun,
  HealthStateTarget,
  HookResult,
  Lifecycle,
  LifecycleLogger,
  LifecycleOptions,
  LifecycleState,
  LifecycleWarningCode,
  ServerTimeoutOptions,
  ShutdownReport,
  ShutdownTrigger,
  StepFunction,
  StepOptions,
  TaskFunction,
  UnhandledRejectionMode,
} from './types.js';
