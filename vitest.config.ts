import { configDefaults, defineConfig } from 'vitest/config';

const truthy = (v: string | undefined): boolean => !!v && !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
const ci = truthy(process.env.CI);
// `.only` fails the run in CI and under `npm test`; a bare `npx vitest run FILE` may still focus.
const refuseOnly = ci || process.env.npm_lifecycle_event === 'test';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Needs Radicale and Xandikos: run by `npm run test:interop` (vitest.interop.config.ts), not here.
    exclude: [...configDefaults.exclude, 'test/interop/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    allowOnly: !refuseOnly,
    // Starts PostgreSQL once per run (DATABASE_URL or a throwaway server) and
    // writes test-artifacts/postgres-suite.json; see DEVELOPERS.md.
    globalSetup: ['test/support/global-setup.ts'],
    // In CI, .ci/run reads the totals from this file for its closing line.
    reporters: ci ? ['default', ['json', { outputFile: 'test-artifacts/vitest-results.json' }]] : ['default'],
  },
});
