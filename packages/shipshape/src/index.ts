export { harden } from './harden.js';
export type {
  HardenedService,
  HardenOptions,
  NodeEnv,
  Part,
  StartupReport,
  UmbrellaErrorCode,
} from './types.js';
