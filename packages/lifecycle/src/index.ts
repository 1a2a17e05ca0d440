export { createLifecycle } from './lifecycle.js';
export type {
  DeadlineOverrun,
  HealthStateTarget,
  HookResult,
  Lifecycle,
  LifecycleErrorCode,
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
