export { harden } from './harden.js';
export type {
  HardenedService,
  HardenOptions,
  NodeEnv,
  Part,
  StartupReport,
} from './types.js';
