import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'gpu-worker',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    environment: 'node',
    // Loading the model and running real queues on Redis takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
