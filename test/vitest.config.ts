import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'e2e',
    include: ['e2e/**/*.test.ts'],
    pool: 'forks',
    // Each file starts its own stack (processes, s3rver); on 2 cores they run one at a time.
    fileParallelism: false,
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
