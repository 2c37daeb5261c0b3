import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'med-model',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    // One file at a time: event-loop.test.ts measures main-thread lag, which other files' CPU load inflates.
    fileParallelism: false,
    environment: 'node',
    // Creating ONNX sessions and checksumming real weights takes seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
