import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'examples/*', 'test/vitest.config.ts'],
    // Two cores: keep parallelism modest so timing-sensitive suites stay stable.
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
