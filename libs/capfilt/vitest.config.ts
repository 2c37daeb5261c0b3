import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'capfilt',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    environment: 'node',
    // Creating ONNX sessions and checksumming real weights takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
