/**
 * CardDAV benchmark: Hubsync against vdirsyncer, in one run, on the same servers and the same
 * generated address books.
 *
 *   npm run bench:carddav                 # 1,000 and 5,000 contacts
 *   npm run bench:carddav -- --sizes 1000 # one size
 *   npm run bench:carddav -- --tools vdirsyncer --sizes 5000
 *   npm run bench:carddav -- --sizes 200 --no-write   # a trial: docs/benchmarks.md is left alone
 *   npm run bench:carddav -- --sizes 1000 --repeat 3  # each tool 3 times, in alternating order; medians
 *   npm run bench:carddav -- --sizes 1000x5,5000      # 5 repetitions at 1,000, one at 5,000
 *
 * Per size N, each tool gets its own fresh pair of collections with the same content:
 *   A = Radicale (htpasswd Basic auth), seeded with N generated vCards (bench/carddav/gen_vcards.py,
 *       written into Radicale's storage directly, test-servers.md §1.3);
 *   B = Xandikos, empty.
 * Phases: setup (Hubsync: hub + two `spoke add`, with discovery; vdirsyncer: `discover`), first
 * sync, no-op re-sync, re-sync after 10 edits on A and 10 other contacts edited on B (NOTE changed
 * by GET + PUT If-Match, straight to the servers, not counted), and a second no-op.
 * Measured per phase: wall time, client CPU time (user + sys) and peak RSS of the client process
 * (/usr/bin/time), and HTTP requests counted by a proxy in front of each server (counting-proxy.ts).
 *
 * With --repeat R (or `NxR` in --sizes, for that size alone), each size is run R times, the tools taking turns at going first (the second
 * tool's collections land on servers that have just done the first's work), and the table gives
 * each figure's median, with the range of wall times.
 * Output: bench/carddav/results/results-<date-time>.json and .md (a markdown table), also printed,
 * and the generated part of the CardDAV section of docs/benchmarks.md (unless --no-write).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DavUser, makeAddressBook, requireBinary, startRadicale, startXandikos, type DavServer } from '../../test/support/dav-servers.js';
import { replaceGenerated } from '../common.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const ALICE = { username: 'alice', password: 'alicepw' };

interface PhaseResult {
  tool: 'hubsync' | 'vdirsyncer';
  n: number;
  phase: string;
  wallS: number;
  cpuS: number;
  peakMb: number;
  /** Hubsync only: the sync run's own duration as it reports it ("Synced hub … in X s"), without process start-up. */
  runS: number | null;
  reqA: Record<string, number>;
  reqB: Record<string, number>;
  ok: boolean;
  /** Which repetition (0-based) of --repeat. */
  rep: number;
  /** The 1-minute load average when the phase ended: the box is shared, so figures need it beside them. */
  load: number;
  /**
   * Seconds during which at least one request was in flight to each server, and the most in flight
   * at once: the wall time minus the busier one is what the tool itself added.
   */
  busyA: number;
  busyB: number;
  maxInFlightB: number;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : def;
}

/** Runs a command under /usr/bin/time; returns wall, CPU and peak RSS of the child. */
async function timed(cmd: string[], env: NodeJS.ProcessEnv, log: string): Promise<{ wallS: number; cpuS: number; peakMb: number; ok: boolean }> {
  const out = `${log}.time`;
  const started = process.hrtime.bigint();
  const code = await new Promise<number>((resolve) => {
    const p = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, ...cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => chunks.push(b));
    p.stderr.on('data', (b: Buffer) => chunks.push(b));
    p.on('exit', (c) => {
      void writeFile(log, Buffer.concat(chunks)).then(() => resolve(c ?? 1));
    });
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const t = (await readFile(out, 'utf8')).trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
  return { wallS: wall, cpuS: (t[1] ?? 0) + (t[2] ?? 0), peakMb: (t[3] ?? 0) / 1024, ok: code === 0 };
}

/** Seeds a Radicale collection by writing its files (fast; test-servers.md §1.3). */
async function seedRadicale(server: DavServer, user: string, coll: string, vcfDir: string): Promise<string> {
  const dir = path.join(server.storage, 'collections', 'collection-root', user, coll);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, '.Radicale.props'), JSON.stringify({ tag: 'VADDRESSBOOK', 'D:displayname': coll }));
  await cp(vcfDir, dir, { recursive: true });
  return `${server.url}${user}/${coll}/`;
}

function unfold(t: string): string[] {
  return t.replace(/\r?\n[ \t]/g, '').split(/\r?\n/).filter((l) => l !== '');
}

/** Changes the NOTE of `count` contacts of `user`'s book, skipping UIDs in `avoid`; returns the UIDs edited. */
async function editNotes(user: DavUser, count: number, avoid: Set<string>, tag: string): Promise<string[]> {
  const edited: string[] = [];
  const names = await user.list();
  for (let i = 0; i < names.length && edited.length < count; i += Math.max(1, Math.floor(names.length / (count * 3)))) {
    const name = names[i] as string;
    const cur = await user.get(name);
    if (!cur) continue;
    const lines = unfold(cur.text);
    const uid = lines.find((l) => /^UID[;:]/i.test(l))?.replace(/^UID[^:]*:/i, '') ?? name;
    if (avoid.has(uid)) continue;
    const kept = lines.filter((l) => !/^NOTE[;:]/i.test(l) && !/^END:VCARD$/i.test(l));
    await user.put(name, [...kept, `NOTE:edited by the benchmark (${tag} ${edited.length})`, 'END:VCARD', ''].join('\r\n'), cur.etag ?? undefined);
    edited.push(uid);
  }
  if (edited.length < count) throw new Error(`could only edit ${edited.length} contacts in ${user.book}`);
  return edited;
}

async function main(): Promise<void> {
  const repeatAll = Number(arg('--repeat', '1'));
  if (!Number.isInteger(repeatAll) || repeatAll < 1) throw new Error('--repeat takes a whole number ≥ 1');
  const plan = arg('--sizes', '1000,5000')
    .split(',')
    .map((s) => {
      const [n, r] = s.split('x').map(Number) as [number, number | undefined];
      if (!Number.isInteger(n) || n < 1 || (r !== undefined && (!Number.isInteger(r) || r < 1))) throw new Error(`--sizes: "${s}" is not N or NxR`);
      return { n, repeat: r ?? repeatAll };
    });
  const sizes = plan.map((p) => p.n);
  const tools = arg('--tools', 'hubsync,vdirsyncer').split(',') as ('hubsync' | 'vdirsyncer')[];
  for (const b of ['radicale', 'xandikos', 'vdirsyncer']) requireBinary(b);
  if (!existsSync('/usr/bin/time')) throw new Error('/usr/bin/time is missing: apt-get install -y time');
  const started = { at: new Date(), load: os.loadavg()[0] ?? 0 };
  const work = await mkdtemp(path.join(os.tmpdir(), 'hubsync-bench-carddav-'));
  console.log(`work folder: ${work}`);

  // Hubsync runs as `hubsync` runs after `npm install`: the CLI bundle (scripts/bundle-cli.mjs), made
  // here from the current sources into dist-bench/ (inside the checkout, so that the modules left
  // out of the bundle resolve from node_modules).
  const build = path.join(repo, 'dist-bench', 'carddav-cli');
  if (tools.includes('hubsync')) {
    const r = spawnSync(process.execPath, [path.join(repo, 'scripts', 'bundle-cli.mjs'), '--outdir', build], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('bundling the CLI failed');
  }
  const runner = path.join(build, 'run-cli.mjs');
  if (tools.includes('hubsync')) await writeFile(runner, `import { main } from './main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n`);

  const [radicale, xandikos] = await Promise.all([startRadicale({ alice: ALICE.password }), startXandikos()]);
  const [pa, pb] = await Promise.all([startCountingProxy(radicale.url), startCountingProxy(xandikos.url)]);
  const results: PhaseResult[] = [];
  try {
    for (const { n, repeat } of plan) {
      const gen = path.join(work, `gen-${n}`);
      const r = spawnSync('/usr/bin/python3', [path.join(here, 'gen_vcards.py'), String(n), gen, '--seed', String(n === 1000 ? 1 : n === 5000 ? 5 : n)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`gen_vcards.py failed: ${r.stderr}`);
      console.log(`\n== ${n} contacts (${(await readdir(gen)).length} files)`);
      for (let rep = 0; rep < repeat; rep++) {
        for (const tool of rep % 2 === 0 ? tools : [...tools].reverse()) {
          results.push(...(await runTool(tool, n, rep, gen, work, radicale, xandikos, pa, pb, runner)));
        }
      }
    }
  } finally {
    await Promise.all([pa.close(), pb.close()]);
    await Promise.all([radicale.stop(), xandikos.stop()]);
  }

  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-');
  const outDir = path.join(here, 'results');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, `results-${stamp}.json`), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, results }, null, 2)}\n`);
  const md = table(results);
  await writeFile(path.join(outDir, `results-${stamp}.md`), md);
  console.log(`\n${md}`);
  if (!process.argv.includes('--no-write')) await writeDocs(md, stamp, started, commandLine());
  // The logs of every command stay in the work folder; the generated cards are dropped.
  for (const n of sizes) await rm(path.join(work, `gen-${n}`), { recursive: true, force: true });
  console.log(`logs: ${work}`);
}

async function runTool(
  tool: 'hubsync' | 'vdirsyncer',
  n: number,
  rep: number,
  gen: string,
  work: string,
  radicale: DavServer,
  xandikos: DavServer,
  pa: CountingProxy,
  pb: CountingProxy,
  runner: string,
): Promise<PhaseResult[]> {
  const tag = `${tool === 'hubsync' ? 'hs' : 'vds'}-${n}${rep > 0 ? `-r${rep}` : ''}`;
  const aDirect = await seedRadicale(radicale, 'alice', `${tag}-a`, gen);
  // Radicale parses every item of a collection the first time it is read and caches the result
  // (`.Radicale.cache/`); in real use that happens as the cards are written. The seed bypasses
  // Radicale, so the first read after it paid for all N parses: vdirsyncer's discover in its setup
  // phase, Hubsync's first sync (≈5–7 s at 1,000). One listing here, outside the measurement and
  // the proxies, puts both tools in front of a server in its normal state.
  const warm = performance.now();
  const listed = await new DavUser(aDirect, ALICE).list();
  if (listed.length !== n) throw new Error(`Radicale lists ${listed.length} cards in ${aDirect}, expected ${n}`);
  console.log(`   (Radicale built its item cache for ${n} cards in ${((performance.now() - warm) / 1000).toFixed(1)} s; not measured)`);
  const bDirect = await makeAddressBook(`${xandikos.home('user')}${tag}-b/`, null);
  const aProxied = aDirect.replace(radicale.url, pa.url);
  const bProxied = bDirect.replace(xandikos.url, pb.url);
  const dir = path.join(work, tag);
  await mkdir(dir, { recursive: true });
  const env = { ...process.env, BENCH_PW: ALICE.password };
  const out: PhaseResult[] = [];
  let step = 0;

  const phase = async (name: string, cmds: string[][]): Promise<void> => {
    pa.reset();
    pb.reset();
    const t0 = performance.now();
    let wallS = 0;
    let cpuS = 0;
    let peakMb = 0;
    let ok = true;
    let runS: number | null = null;
    for (const cmd of cmds) {
      const log = path.join(dir, `${++step}-${name.replace(/\W+/g, '-')}.log`);
      const t = await timed(cmd, env, log);
      const m = /Synced hub "[^"]*" \(run [^)]*\) in ([\d.]+) s/.exec(await readFile(log, 'utf8'));
      if (m) runS = (runS ?? 0) + Number(m[1]);
      wallS += t.wallS;
      cpuS += t.cpuS;
      peakMb = Math.max(peakMb, t.peakMb);
      ok &&= t.ok;
      if (!t.ok) console.log(`   ${tool} ${name}: FAILED, see ${dir}`);
    }
    const [ba, bb] = [pa.busy(), pb.busy()];
    const res: PhaseResult = {
      tool,
      n,
      phase: name,
      wallS,
      cpuS,
      peakMb,
      runS,
      reqA: pa.counts(),
      reqB: pb.counts(),
      ok,
      rep,
      load: os.loadavg()[0] ?? 0,
      busyA: ba.busyMs / 1000,
      busyB: bb.busyMs / 1000,
      maxInFlightB: bb.maxInFlight,
    };
    out.push(res);
    const since = (ms: number | null) => (ms === null ? '-' : ((ms - t0) / 1000).toFixed(2));
    console.log(
      `   ${tool.padEnd(10)} ${name.padEnd(22)} ${wallS.toFixed(2).padStart(8)} s  cpu ${cpuS.toFixed(2).padStart(6)} s  ${peakMb.toFixed(0).padStart(4)} MB  A ${pa.total()}  B ${pb.total()}  load ${res.load.toFixed(1)}` +
        `  | busy A ${res.busyA.toFixed(2)} s (${since(ba.firstMs)}–${since(ba.lastMs)}), B ${res.busyB.toFixed(2)} s (${since(bb.firstMs)}–${since(bb.lastMs)}, ≤${bb.maxInFlight} at once)`,
    );
  };

  let sync: string[][];
  if (tool === 'hubsync') {
    const hs = (...args: string[]): string[] => [process.execPath, runner, '--data-dir', path.join(dir, 'data'), ...args];
    await phase('setup', [
      hs('hub', 'create', 'Bench', '--object', 'contacts'),
      hs('spoke', 'add', 'Bench', 'a', '--type', 'carddav', '--url', aProxied, '--username', 'alice', '--password-env', 'BENCH_PW', '--allow-create'),
      hs('spoke', 'add', 'Bench', 'b', '--type', 'carddav', '--url', bProxied, '--username', 'bench', '--password-env', 'BENCH_PW', '--allow-create'),
    ]);
    sync = [hs('sync', 'Bench')];
  } else {
    const conf = path.join(dir, 'config');
    await writeFile(
      conf,
      [
        '[general]',
        `status_path = "${path.join(dir, 'status')}/"`,
        '[pair bench]',
        'a = "bench_a"',
        'b = "bench_b"',
        'collections = null',
        'conflict_resolution = "a wins"',
        '[storage bench_a]',
        'type = "carddav"',
        `url = "${aProxied}"`,
        `username = "${ALICE.username}"`,
        `password = "${ALICE.password}"`,
        '[storage bench_b]',
        'type = "carddav"',
        `url = "${bProxied}"`,
        '',
      ].join('\n'),
    );
    await phase('setup', [['vdirsyncer', '-c', conf, 'discover', 'bench']]);
    sync = [['vdirsyncer', '-c', conf, 'sync', 'bench']];
  }
  await phase('first sync', sync);
  await phase('no-op re-sync', sync);
  const a = new DavUser(aDirect, ALICE);
  const b = new DavUser(bDirect, null);
  const editedA = await editNotes(a, 10, new Set(), 'A');
  await editNotes(b, 10, new Set(editedA), 'B');
  await phase('10+10 edits re-sync', sync);
  await phase('no-op again', sync);

  // Both sides must hold the same contacts afterwards.
  const [na, nb] = [(await a.list()).length, (await b.list()).length];
  if (na !== n || nb !== n) console.log(`   WARNING ${tool}: A holds ${na}, B holds ${nb}, expected ${n}`);
  return out;
}

/** The command as a person would type it (`npm run bench:carddav -- …`). */
function commandLine(): string {
  const args = process.argv.slice(2);
  return `npm run bench:carddav${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

/** Rewrites the generated part of the CardDAV section of docs/benchmarks.md with this run's table. */
async function writeDocs(md: string, stamp: string, started: { at: Date; load: number }, command: string): Promise<void> {
  const file = path.join(repo, 'docs', 'benchmarks.md');
  const body = [
    `<!-- BEGIN GENERATED: carddav (${command}) -->`,
    '',
    `Run ${started.at.toISOString().slice(0, 16).replace('T', ' ')} UTC with \`${command}\`, Node ${process.version}, ${os.cpus().length} CPUs,`,
    `1-minute load average ${started.load.toFixed(1)} at the start and ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end (the last column: at the end of each phase).`,
    `Raw results: \`bench/carddav/results/results-${stamp}.{json,md}\`.`,
    '',
    md.trimEnd(),
    '',
    '<!-- END GENERATED: carddav -->',
  ].join('\n');
  const next = replaceGenerated(await readFile(file, 'utf8'), 'carddav', body);
  if (next === null) {
    console.log(`${file}: no CardDAV GENERATED markers; the docs were left alone`);
    return;
  }
  await writeFile(file, next);
  console.log(`rewrote the CardDAV results in ${file}`);
}

function fmtReq(r: Record<string, number>): string {
  const total = Object.values(r).reduce((x, y) => x + y, 0);
  const parts = Object.entries(r).sort(([x], [y]) => x.localeCompare(y)).map(([m, c]) => `${c} ${m}`);
  return parts.length > 1 ? `${total} (${parts.join(', ')})` : parts[0] ?? '0';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const totalOf = (r: PhaseResult): number => [...Object.values(r.reqA), ...Object.values(r.reqB)].reduce((x, y) => x + y, 0);

/**
 * One row per size, phase and tool. With several repetitions: medians (wall time with its range),
 * and the requests of the repetition that made the most (they are normally the same every time).
 */
function table(rs: PhaseResult[]): string {
  const lines = [
    '| N | phase | tool | runs | wall s (median, range) | of which the sync run s | client CPU s | peak MB | requests A (Radicale) | requests B (Xandikos) | total requests | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const order = ['setup', 'first sync', 'no-op re-sync', '10+10 edits re-sync', 'no-op again'];
  const groups = new Map<string, PhaseResult[]>();
  for (const r of rs) {
    const key = `${r.n}\0${r.phase}\0${r.tool}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows = [...groups.values()].sort(([x], [y]) => x!.n - y!.n || order.indexOf(x!.phase) - order.indexOf(y!.phase) || x!.tool.localeCompare(y!.tool));
  for (const g of rows) {
    const r = g[0] as PhaseResult;
    const walls = g.map((x) => x.wallS);
    const wall = g.length > 1 ? `${median(walls).toFixed(2)} (${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)})` : median(walls).toFixed(2);
    const runS = g.every((x) => x.runS === null) ? '' : median(g.map((x) => x.runS ?? 0)).toFixed(2);
    const most = g.reduce((a, b) => (totalOf(b) > totalOf(a) ? b : a));
    const failed = g.some((x) => !x.ok) ? ' (FAILED)' : '';
    lines.push(
      `| ${r.n} | ${r.phase} | ${r.tool}${failed} | ${g.length} | ${wall} | ${runS} | ${median(g.map((x) => x.cpuS)).toFixed(2)} | ${median(g.map((x) => x.peakMb)).toFixed(0)} | ${fmtReq(most.reqA)} | ${fmtReq(most.reqB)} | ${totalOf(most)} | ${median(g.map((x) => x.load)).toFixed(1)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

await main();
