/**
 * The CardDAV interop suite: real Radicale and Xandikos servers (Debian packages), started per test
 * file by test/support/dav-servers.ts. Not part of `npm test` (a fresh machine has no such servers);
 * `npm run test:interop` runs it, and `.ci/run` installs the packages first and checks the report.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    allowOnly: false,
    reporters: ['default', ['json', { outputFile: 'test-artifacts/interop-results.json' }]],
  },
});
