/**
 * Vitest global setup: starts PostgreSQL once for the whole `vitest run`
 * (see startPostgres in ./postgres.ts), provides its URL to the test files,
 * and at teardown stops it and writes test-artifacts/postgres-suite.json from
 * the records that the Postgres-backed test files left (via usePostgres()).
 *
 * `.ci/run` fails unless that file lists at least one passed Postgres test
 * for every test file that calls usePostgres(). The file is deleted at the
 * start of each run, so a stale one cannot pass the check.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { redactUrl, startPostgres, type PostgresTestRecord } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the run's PostgreSQL database (see test/support/postgres.ts). */
    postgresUrl: string;
    /** JSON-lines file where usePostgres() records the tests that ran. */
    postgresSuiteLog: string;
    /** Identifies this run in the records. */
    postgresRunId: string;
  }
}

export interface PostgresSuiteReport {
  ranAt: string;
  finishedAt: string;
  runId: string;
  server: { source: string; address: string; version: string; startMs: number };
  testsRun: number;
  testsPassed: number;
  testsFailed: number;
  files: string[];
  tests: Array<Omit<PostgresTestRecord, 'runId'>>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = project.config.root;
  const artifacts = path.join(root, 'test-artifacts');
  const reportFile = path.join(artifacts, 'postgres-suite.json');
  const runId = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const logFile = path.join(artifacts, `postgres-suite.${runId}.jsonl`);
  await mkdir(artifacts, { recursive: true });
  await rm(reportFile, { force: true });

  const ranAt = new Date();
  const t0 = performance.now();
  const server = await startPostgres();
  const startMs = Math.round(performance.now() - t0);
  const address = redactUrl(server.url);
  console.log(`[postgres] ${server.source} server at ${address} ready in ${startMs} ms (${server.version.split(',')[0]})`);

  project.provide('postgresUrl', server.url);
  project.provide('postgresSuiteLog', logFile);
  project.provide('postgresRunId', runId);

  return async () => {
    try {
      const lines = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
      const tests = lines
        .map((line) => JSON.parse(line) as PostgresTestRecord)
        .filter((r) => r.runId === runId)
        .map(({ runId: _runId, ...rest }) => rest);
      const report: PostgresSuiteReport = {
        ranAt: ranAt.toISOString(),
        finishedAt: new Date().toISOString(),
        runId,
        server: { source: server.source, address, version: server.version, startMs },
        testsRun: tests.length,
        testsPassed: tests.filter((t) => t.state === 'pass').length,
        testsFailed: tests.filter((t) => t.state === 'fail').length,
        files: [...new Set(tests.map((t) => t.file))].sort(),
        tests,
      };
      await writeFile(reportFile, `${JSON.stringify(report, null, 2)}\n`);
      await rm(logFile, { force: true });
      console.log(`[postgres] ${report.testsPassed}/${report.testsRun} Postgres tests passed; report in ${path.relative(root, reportFile)}`);
    } finally {
      await server.stop();
    }
  };
}
