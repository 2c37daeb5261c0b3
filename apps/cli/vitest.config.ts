import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'cli',
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    environment: 'node',
    // Some tests walk temporary directory trees and start the CLI as a child process (tsx startup).
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
