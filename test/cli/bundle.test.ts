/**
 * The bundled CLI (scripts/bundle-cli.mjs), which is what `hubsync` and `npm start` run after
 * `npm install`: bundled from the current sources here, then used as a person would, in a process
 * of its own. The in-process CLI tests cover the commands' behaviour; this one catches what only
 * bundling can break: a library that does not survive bundling, a lazily loaded chunk (the web
 * app, its external fastify and pino) that does not load.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/dav-servers.js';
import { makeTempVdir, makeVcard, writeVcf } from '../support/vdir.js';
import { peopleIn } from './cli-helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the checkout, so that the modules left out of the bundle resolve from its node_modules.
const outdir = path.join(repo, 'test-artifacts', 'cli-bundle');
let root: { dir: string; cleanup(): Promise<void> };

/** Runs the bundle the way bin/hubsync.js does: import main.js, call main(). */
function bundled(...args: string[]): { code: number | null; out: string; err: string } {
  return bundledWith({}, ...args);
}

function bundledWith(env: Record<string, string>, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
let entry = '';

beforeAll(async () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'scripts', 'bundle-cli.mjs'), '--outdir', outdir], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`bundling failed:\n${r.stdout}\n${r.stderr}`);
  root = await makeTempVdir('hubsync-bundle-');
  entry = path.join(root.dir, 'run.mjs');
  await writeFile(entry, `const { main } = await import(${JSON.stringify(path.join(outdir, 'main.js'))});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
}, 150_000);
afterAll(async () => {
  await root.cleanup();
  await rm(outdir, { recursive: true, force: true });
});

describe('the bundled CLI', () => {
  it('runs as a program: two folders sync through it', async () => {
    const data = path.join(root.dir, 'data');
    const [a, b] = [path.join(root.dir, 'a'), path.join(root.dir, 'b')];
    await mkdir(a);
    await mkdir(b);
    await writeVcf(a, 'x.vcf', makeVcard({ uid: 'x', given: 'Ann', surname: 'Lee', emails: ['ann@example.com'] }));
    await writeVcf(b, 'y.vcf', makeVcard({ uid: 'y', given: 'Bob', surname: 'Kim', emails: ['bob@example.com'], phones: ['+33 6 12 34 56 78'] }));
    const cli = (...args: string[]) => {
      const r = bundled('--data-dir', data, ...args);
      if (r.code !== 0) throw new Error(`hubsync ${args.join(' ')} exited ${r.code}\n${r.out}\n${r.err}`);
      return r.out;
    };
    cli('hub', 'create', 'Home', '--object', 'contacts');
    cli('spoke', 'add', 'Home', 'a', '--type', 'vdir', '--path', a, '--allow-create');
    cli('spoke', 'add', 'Home', 'b', '--type', 'vdir', '--path', b, '--allow-create', '--region', 'FR');
    expect(cli('sync', 'Home')).toMatch(/Synced hub "Home"/);
    for (const dir of [a, b]) expect(await peopleIn(dir)).toEqual(['ann@example.com', 'bob@example.com']);
    const summary = JSON.parse(cli('sync', 'Home', '--json')) as { totals: { spokes: Record<string, number> } };
    expect(summary.totals.spokes).toMatchObject({ created: 0, updated: 0, deleted: 0 });
  });

  it('reports an unknown hub as one line naming it, with a non-zero exit', () => {
    const r = bundled('--data-dir', path.join(root.dir, 'empty'), 'sync', 'Nowhere');
    expect(r.code).not.toBe(0);
    expect(r.err.trim().split('\n')[0]).toMatch(/Nowhere/);
  });

  it('finishes its work quietly when the reader of its output has gone (`hubsync … | head`)', async () => {
    const data = path.join(root.dir, 'pipe');
    const child = spawn(process.execPath, [entry, '--data-dir', data, 'hub', 'create', 'Piped'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The read end closes before the CLI writes a byte: its first write fails with EPIPE.
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    // It did what it was asked before the message it could not print.
    expect(bundled('--data-dir', data, 'hub', 'list').out).toMatch(/^Piped /m);
  });

  it('starts the web app (the lazily loaded chunk with fastify and pino)', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [entry, '--data-dir', path.join(root.dir, 'web'), 'serve', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    try {
      const until = Date.now() + 30_000;
      let status = 0;
      while (Date.now() < until && status === 0) {
        if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}:\n${log}`);
        status = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' }).then((r) => r.status, () => 0);
        if (status === 0) await new Promise((r) => setTimeout(r, 100));
      }
      // A fresh installation sends its first visitor to the setup page.
      expect(status).toBe(302);
      expect(log).toMatch(/Hubsync is running at http:\/\/localhost:\d+/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 40_000);

  it('`serve` that cannot start says why in one line and exits (the demo emulators it started do not keep it running)', async () => {
    const port = await freePort();
    const data = path.join(root.dir, 'web-bad');
    const badStore = bundledWith({ HUBSYNC_DATABASE_URL: 'mysql://db.example/hub' }, '--data-dir', data, 'serve', '--port', String(port));
    expect(badStore.code).toBe(1);
    expect(badStore.err.trim()).toBe('hubsync: Unsupported database URL "mysql://db.example/hub": use postgres://… or leave it unset for the embedded store.');
    const badLog = bundledWith({ HUBSYNC_LOG_FORMAT: 'xml' }, '--data-dir', data, 'serve', '--port', String(port));
    expect(badLog.code).toBe(1);
    expect(badLog.err).toContain('HUBSYNC_LOG_FORMAT must be "json" or "pretty" (got "xml")');

    const other = http.createServer();
    await new Promise<void>((resolve) => other.listen(port, '127.0.0.1', resolve));
    try {
      const taken = bundled('--data-dir', data, 'serve', '--port', String(port));
      expect(taken.code).toBe(1);
      expect(taken.err).toContain(`Port ${port} on 127.0.0.1 is already in use`);
    } finally {
      await new Promise((r) => other.close(r));
    }
  }, 90_000);
});
