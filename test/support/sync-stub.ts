/**
 * A `sync` command of the test's own, first on the PATH, that records each call's arguments in a
 * log and then runs the real `sync` (or fails): for the vdir write worker's `syncfs` (write-worker.ts).
 * Install it before the process's first write: the worker, and its shell, take the PATH they
 * start with.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { makeTempVdir } from './vdir.js';

export interface SyncStub {
  /** The argument lists of the calls so far, in order. */
  calls(): string[][];
  /** For each call, the entries of the folder named by its last argument at the time of the call. */
  listings(): string[][];
  remove(): void;
}

export function installSyncStub(opts: { fail: boolean }): SyncStub {
  const real = execFileSync('sh', ['-c', 'command -v sync'], { encoding: 'utf8' }).trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hubsync-sync-stub-'));
  const log = path.join(dir, 'calls.log');
  const listings = path.join(dir, 'listings.log');
  const run = opts.fail ? 'exit 1' : `exec '${real}' "$@"`;
  // One line per call: the arguments separated by tabs.
  const script = [
    '#!/bin/sh',
    `(IFS='\t'; printf '%s\\n' "$*") >> '${log}'`,
    'for last; do :; done',
    // '>' first, so that an empty folder still makes a line.
    `(printf '>'; cd "$last" && ls -A | tr '\\n' '\\t'; echo) >> '${listings}'`,
    run,
  ];
  fs.writeFileSync(path.join(dir, 'sync'), script.join('\n') + '\n', { mode: 0o755 });
  process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ''}`;
  return {
    calls: () => linesOf(log).map((l) => l.split('\t')),
    listings: () => linesOf(listings).map((l) => l.slice(1).split('\t').filter(Boolean).sort()),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

function linesOf(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** Whether the write worker flushes batches with `syncfs` here (on Linux). */
export function syncfsExpected(): boolean {
  return process.platform === 'linux';
}

/** What `useSyncStubAndFolder` gives a test file, filled in before its first test. */
export interface StubbedFolder {
  stub: SyncStub;
  /** A fresh empty folder for the writes, removed after the file's last test. */
  dir: string;
}

/** Installs the stub and makes a folder before the file's tests; removes both after them. */
export function useSyncStubAndFolder(opts: { fail: boolean }): StubbedFolder {
  const t = {} as StubbedFolder;
  let cleanup = async (): Promise<void> => undefined;
  beforeAll(async () => {
    t.stub = installSyncStub(opts);
    ({ dir: t.dir, cleanup } = await makeTempVdir('hubsync-syncfs-'));
  });
  afterAll(async () => {
    await cleanup();
    t.stub.remove();
  });
  return t;
}
