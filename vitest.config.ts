import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The real stable-diffusion.cpp, built once before the files run (see the file's header).
    globalSetup: ['./test/support/sdcpp-setup.ts'],
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
  },
});
