import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'config',
    include: ['test/**/*.test.ts'],
    // The CLI and fixture tests run the built dist/; build it first when missing or stale.
    globalSetup: ['test/build.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
