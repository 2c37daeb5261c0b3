import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'api',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    environment: 'node',
    // Each file starts its own API on a real Redis; two at a time is what the 2-core CI machine affords.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
