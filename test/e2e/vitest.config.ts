import { defineConfig } from 'vitest/config';

// The browser suite (npm run test:e2e): real Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core against the web app in demo mode. Not part of `npm test`: a fresh machine has
// no Chromium; .ci/run installs it and runs this suite.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default', ['json', { outputFile: 'test-artifacts/e2e/results.json' }]],
  },
});
