/**
 * `npm run bench`: every benchmark of docs/benchmarks.md, one after another — Google and Microsoft
 * 365 (on their emulators, seconds each; google/run.ts, microsoft/run.ts, each in a child process),
 * then the vdir one (8–40 minutes), which is this file's own work: sync generated address books
 * through three vdir spokes with the real engine and record wall time, CPU time, peak memory and
 * throughput (docs/benchmarks.md, bench/results/).
 *
 *   npm run bench                              all three; updates the docs
 *   npm run bench -- --only google             one of them (google, microsoft, vdir; a comma list for several)
 *   npm run bench -- --quick                   smoke test of all three: vdir at 2,000 contacts, the others
 *                                              at small sizes (docs untouched)
 *   --no-write (print only), --report-only (render the docs again from bench/results/), --tmp DIR:
 *                                              for every benchmark
 *
 * The other options are the vdir benchmark's, and without --only they select it alone:
 *   npm run bench -- --sizes 10000,50000       other sizes
 *   npm run bench -- --runs 5                  repetitions of the cheap phases (default 3)
 *   --initial-runs K                           first syncs per size, each on fresh folders (default 3;
 *                                              1 with --quick, --profile or --initial-only)
 *   npm run bench -- --profile --sizes 100000  where the time goes: SQLite and connector timers and
 *                                              a CPU profile per phase (slower; docs untouched)
 *   --initial-only                             only the initial sync (profiles, experiments)
 *   --env NAME=VALUE                           environment of the measured processes (experiments)
 *   --planner-fix                              experiment: what the entities-lookup fix would give
 *   --no-shared-phones                         experiment: data without shared switchboard numbers
 *   --keep (keep the generated data)
 *
 * Per size: generate the folders (not measured), create the hub and spokes, then each measured
 * phase in a child process of its own (phase.ts): the initial sync (repeated on freshly generated
 * folders and a new hub, `--initial-runs`, and the median run reported); no-op re-syncs; incremental
 * syncs after 100 edits, 10 creates and 10 deletes made in the folders; a dry run of one more such
 * round. The data is checked after each phase, and the run fails loudly when the initial sync did
 * not leave every folder with the N contacts.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openApp } from '../src/cli/app.js';
import { errorText, int, type PhaseOutput, type PhaseSpec, type RunCounts } from './common.js';
import { summarizeCpuProfile } from './cpuprofile.js';
import { FOLDERS, folderDigest, generateFolders, listVcf, mutate, type MutationPlan, type MutationResult } from './data.js';
import {
  aggregate,
  compactSegments,
  didCell,
  initialSpokeTable,
  mb,
  memoryTable,
  phaseTable,
  ratios,
  recordsOf,
  resultsBlock,
  sec,
  segmentTable,
  updateDocs,
  verdictList,
  verdicts,
  type BenchResults,
  type Check,
  type HubRows,
  type MachineInfo,
  type PhaseRecord,
  type SizeResult,
} from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: dist-bench/bench/run.js → ../.. */
const ROOT = path.resolve(HERE, '..', '..');
const PHASE_JS = path.join(HERE, 'phase.js');
const HUB = 'bench';
const PLAN: MutationPlan = { edits: 100, creates: 10, deletes: 10 };

/**
 * Disk needed per contact, measured at 100,000 (ext4, 4 KiB blocks): 3 folders × 1 file × 4 KiB,
 * plus ≈9 KiB of hub store (contacts, journal, 3 links with their merge bases, WAL), plus margin.
 */
const BYTES_PER_CONTACT = 28 * 1024;

class BenchFailure extends Error {}

interface Options {
  sizes: number[];
  runs: number;
  seed: number;
  quick: boolean;
  profile: boolean;
  keep: boolean;
  write: boolean;
  tmp: string;
  /** Experiment: the planner fix of SyncSpec.plannerFix (implies the timed store). */
  plannerFix: boolean;
  /** Experiment: no shared (switchboard) phone numbers in the data. */
  sharedPhones: boolean;
  /** Only the initial sync (profiling it, experiments). */
  initialOnly: boolean;
  /** First syncs per size, each on freshly generated folders and a new hub; the median is reported. */
  initialRuns: number;
  /** Re-render docs/benchmarks.md from bench/results/latest.json, measuring nothing. */
  reportOnly: boolean;
  /** Extra environment for the measured processes (experiments: UV_THREADPOOL_SIZE=16). */
  env: Record<string, string>;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      runs: { type: 'string', default: '3' },
      'initial-runs': { type: 'string' },
      seed: { type: 'string', default: '42' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      tmp: { type: 'string', default: os.tmpdir() },
      env: { type: 'string', multiple: true, default: [] },
      'initial-only': { type: 'boolean', default: false },
      'planner-fix': { type: 'boolean', default: false },
      'no-shared-phones': { type: 'boolean', default: false },
      'report-only': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  const sizes = (values.sizes ?? (quick ? '2000' : '10000,100000')).split(',').map((x) => Number(x.replace(/[_\s]/g, '')));
  if (sizes.some((n) => !Number.isInteger(n) || n < 100)) throw new BenchFailure(`--sizes: give whole numbers ≥ 100, separated by commas (got "${values.sizes}")`);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new BenchFailure(`--runs: give a whole number ≥ 1 (got "${values.runs}")`);
  const profile = values.profile ?? false;
  const env: Record<string, string> = {};
  for (const kv of values.env ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(kv);
    if (!m) throw new BenchFailure(`--env: give NAME=VALUE (got "${kv}")`);
    env[m[1] as string] = m[2] as string;
  }
  const initialOnly = values['initial-only'] ?? false;
  const fix = values['planner-fix'] ?? false;
  // Three first syncs for the recorded numbers (a median, as for the cheap phases); one for a smoke
  // test, a profile or an experiment, unless asked.
  const initialRuns = Number(values['initial-runs'] ?? (quick || profile || initialOnly ? 1 : 3));
  if (!Number.isInteger(initialRuns) || initialRuns < 1) throw new BenchFailure(`--initial-runs: give a whole number ≥ 1 (got "${values['initial-runs']}")`);
  const sharedPhones = !(values['no-shared-phones'] ?? false);
  return {
    reportOnly: values['report-only'] ?? false,
    sharedPhones,
    plannerFix: fix,
    env,
    initialOnly,
    initialRuns: profile ? 1 : initialRuns,
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    runs: profile ? 1 : runs,
    seed: Number(values.seed),
    quick,
    profile,
    keep: values.keep ?? false,
    // A smoke test, a profile or an experiment must not overwrite the recorded numbers.
    write: !(values['no-write'] ?? false) && !quick && !profile && !initialOnly && !fix && sharedPhones && (values.env ?? []).length === 0,
    tmp: path.resolve(values.tmp ?? os.tmpdir()),
  };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch {
    return '';
  }
}

function machineInfo(tmp: string): MachineInfo {
  const df = sh('df', ['-PT', tmp]).trim().split('\n')[1]?.split(/\s+/) ?? [];
  return {
    nproc: Number(sh('nproc', []).trim()) || os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    free: sh('free', ['-g']),
    node: process.version,
    kernel: os.release(),
    tmpFs: df.length > 1 ? `${df[1]} (${df[6] ?? df[0]})` : tmp,
  };
}

function freeBytes(dir: string): number {
  const line = sh('df', ['-Pk', dir]).trim().split('\n')[1];
  const avail = Number(line?.split(/\s+/)[3]);
  return Number.isFinite(avail) ? avail * 1024 : Number.POSITIVE_INFINITY;
}

function duMB(p: string): number {
  const kb = Number(sh('du', ['-sk', p]).split(/\s+/)[0]);
  return Number.isFinite(kb) ? kb / 1024 : 0;
}

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GB`;

// ----------------------------------------------------------------------------------------------

let phaseCounter = 0;

let phaseEnv: Record<string, string> = {};

async function runPhase(workDir: string, spec: PhaseSpec, nodeArgs: string[] = []): Promise<{ out: PhaseOutput; processWallMs: number }> {
  const resultFile = path.join(workDir, `phase-${++phaseCounter}.json`);
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, PHASE_JS, JSON.stringify(spec), resultFile], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...phaseEnv },
    });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  const processWallMs = performance.now() - t0;
  let out: PhaseOutput;
  try {
    out = JSON.parse(await fsp.readFile(resultFile, 'utf8')) as PhaseOutput;
  } catch {
    out = { ok: false, error: `the phase process exited with code ${code} and wrote no result` };
  }
  if (!out.ok) throw new BenchFailure(`phase ${spec.mode} failed: ${out.error ?? 'unknown error'}`);
  return { out, processWallMs };
}

async function hubRows(dataDir: string): Promise<HubRows> {
  const app = await openApp({ dataDir });
  try {
    const db = app.store.db;
    const n = async (q: Promise<{ n: number | string | bigint } | undefined>) => Number((await q)?.n ?? 0);
    const live = await n(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('deleted', '=', 0).executeTakeFirst());
    const deleted = await n(db.selectFrom('entities').select((eb) => eb.fn.countAll<number>().as('n')).where('deleted', '=', 1).executeTakeFirst());
    const spokes = await db.selectFrom('spokes').select(['id', 'name']).orderBy('created_at').orderBy('name').execute();
    const links: Record<string, number> = {};
    for (const s of spokes) {
      links[s.name] = await n(db.selectFrom('links').select((eb) => eb.fn.countAll<number>().as('n')).where('spoke_id', '=', s.id).executeTakeFirst());
    }
    const journal = await n(db.selectFrom('journal').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst());
    const conflicts = await n(db.selectFrom('conflicts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst());
    const reviews = await n(db.selectFrom('reviews').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst());
    return { live, deleted, links, journal, conflicts, reviews };
  } finally {
    await app.close();
  }
}

const examinedOf = (r: RunCounts) => r.spokes.reduce((a, s) => a + s.examined, 0);
const total = (r: RunCounts, f: (s: RunCounts['spokes'][number]) => number) => r.spokes.reduce((a, s) => a + f(s), 0);

function check(checks: Check[], name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail });
}

function statusChecks(checks: Check[], r: RunCounts): void {
  const bad = r.spokes.filter((s) => s.status !== 'ok');
  check(checks, 'every spoke ok', bad.length === 0, bad.map((s) => `${s.name}: ${s.status} ${s.error ?? ''}`).join('; ') || 'ok');
  const failed = total(r, (s) => s.outbound.failed);
  check(checks, 'no failed write', failed === 0, failed ? `${failed} writes failed: ${r.spokes.flatMap((s) => s.firstProblems).slice(0, 3).join(' | ')}` : 'ok');
}

async function filesPerFolder(dirs: readonly string[]): Promise<number[]> {
  return Promise.all(dirs.map(async (d) => (await listVcf(d)).length));
}

/** Spoke name → value, from values in FOLDERS order (the spokes are named after the folders). */
function byFolder(xs: readonly number[]): Record<string, number> {
  return Object.fromEntries(FOLDERS.map((f, k) => [f, xs[k] ?? 0]));
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

// ----------------------------------------------------------------------------------------------

/** Where one first sync's data lives: generated folders, hub data folder, phases' scratch folder. */
interface Place {
  root: string;
  dirs: string[];
  dataDir: string;
  workDir: string;
}

async function makePlace(o: Options, n: number, suffix: string): Promise<Place> {
  const root = await fsp.mkdtemp(path.join(o.tmp, `hubsync-bench-${n}${suffix}-`));
  const place = { root, dirs: FOLDERS.map((f) => path.join(root, 'spokes', f)), dataDir: path.join(root, 'hub'), workDir: path.join(root, 'phases') };
  for (const d of [...place.dirs, place.dataDir, place.workDir]) await fsp.mkdir(d, { recursive: true });
  return place;
}

async function benchSize(n: number, o: Options, failures: string[], profileDir: string, leftovers: string[]): Promise<SizeResult> {
  const main = await makePlace(o, n, '');
  const { root, dirs, dataDir } = main;
  let keep = o.keep;
  try {
    log(`\n== ${int(n)} contacts (data in ${root})`);

    const profName = (label: string) => `${n}-${label}.cpuprofile`;
    const probing = o.profile || o.plannerFix;
    const nodeArgs = (label: string) => [
      ...(probing ? ['--expose-gc'] : []),
      ...(o.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profName(label)}`] : []),
    ];
    const measure = async (label: string, dryRun: boolean, tag: string, liveHeap = false, place: Place = main): Promise<PhaseRecord> => {
      const spec: PhaseSpec = { mode: 'sync', dataDir: place.dataDir, hub: HUB, dryRun, instrument: o.profile || o.plannerFix, plannerFix: o.plannerFix, liveHeap };
      const load0 = os.loadavg()[0] ?? 0;
      const { out, processWallMs } = await runPhase(place.workDir, spec, nodeArgs(tag));
      const load: [number, number] = [load0, os.loadavg()[0] ?? 0];
      const m = out.measurement;
      if (!m) throw new BenchFailure(`${label}: the phase returned no measurement`);
      const rec: PhaseRecord = { label, m, processWallMs, load, itemsPerSec: 0, checks: [] };
      if (o.profile) {
        const file = path.join(profileDir, profName(tag));
        if (fs.existsSync(file)) rec.cpuProfile = summarizeCpuProfile(file);
      }
      return rec;
    };
    const report = (rec: PhaseRecord) => {
      const bad = rec.checks.filter((c) => !c.ok);
      for (const c of bad) failures.push(`${int(n)}, ${rec.label}: ${c.name} — ${c.detail}`);
      log(
        `${rec.label}: ${sec(rec.m.wallMs)} s wall, ${sec(rec.m.cpuUserMs + rec.m.cpuSysMs)} s CPU` +
          `${rec.m.mainThreadCpuMs !== undefined ? ` (main thread ${sec(rec.m.mainThreadCpuMs)} s)` : ''}, ${mb(rec.m.maxRssMB)} MB peak RSS, ` +
          `${int(rec.itemsPerSec)} items/s, load ${rec.load[0].toFixed(1)}→${rec.load[1].toFixed(1)} — ${didCell(rec.m.run)}${bad.length ? `\n   CHECK FAILED: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}` : ''}`,
      );
    };

    // --- initial sync: generate, set up, sync, check; in `main`, and again in places of their own
    const firstSync = async (place: Place, k: number) => {
      const generation = await generateFolders(place.dirs, o.seed, n, { sharedPhones: o.sharedPhones });
      log(
        `generated ${generation.files.map(int).join(' + ')} files (${int(generation.inTwoFolders)} people in two folders, ` +
          `${int(generation.withVariant)} of them different between the two) in ${sec(generation.ms)} s — not measured`,
      );
      // The generated files are still in the page cache waiting to be written back; left there, the
      // kernel writes them (≈150 MB at 100,000) during the measured sync, which then competes with it
      // for the disk and the CPUs by a varying amount. Flushed here, outside the measurement.
      execFileSync('sync', ['-f', place.root]);
      await runPhase(place.workDir, { mode: 'setup', dataDir: place.dataDir, hub: HUB, spokes: FOLDERS.map((name, f) => ({ name, dir: place.dirs[f] as string })) });
      const label = o.initialRuns > 1 ? `initial sync #${k}` : 'initial sync';
      const initial = await measure(label, false, o.initialRuns > 1 ? `initial-${k}` : 'initial', false, place);
      const filesAfter = await filesPerFolder(place.dirs);
      const rows = await hubRows(place.dataDir);
      initial.itemsPerSec = rows.live / (initial.m.wallMs / 1000);
      statusChecks(initial.checks, initial.m.run);
      check(initial.checks, 'hub holds N contacts', rows.live === n, `${int(rows.live)} live contacts in the hub, expected ${int(n)} (${int(rows.reviews)} sent to review)`);
      check(initial.checks, 'every folder holds N files', filesAfter.every((f) => f === n), `files per folder: ${filesAfter.map(int).join(', ')}; expected ${int(n)} each`);
      report(initial);
      if (initial.checks.some((c) => !c.ok)) {
        keep = true;
        // A repetition's data is on the list to remove at the end: kept instead, as the message says.
        if (leftovers.includes(place.root)) leftovers.splice(leftovers.indexOf(place.root), 1);
        throw new BenchFailure(
          `the initial sync of ${int(n)} contacts is WRONG: ${initial.checks.filter((c) => !c.ok).map((c) => c.detail).join('; ')}. ` +
            `Data kept in ${place.root} for inspection.`,
        );
      }
      return { generation, initial, filesAfter, rows };
    };
    const first = await firstSync(main, 1);
    const initials = [first.initial];
    for (let k = 2; k <= o.initialRuns; k++) {
      // Each repetition on a copy of its own: a first sync changes its folders. Its data is removed
      // with the rest at the end (removeAll), never between runs.
      const place = await makePlace(o, n, `-initial${k}`);
      if (keep) log(`data of initial sync #${k} kept in ${place.root}`);
      else leftovers.push(place.root);
      initials.push((await firstSync(place, k)).initial);
    }
    const byWall = [...initials].sort((a, b) => a.m.wallMs - b.m.wallMs);
    const result: SizeResult = {
      n,
      generation: first.generation,
      disk: { hubMB: duMB(dataDir), foldersMB: duMB(path.join(root, 'spokes')) },
      hubAfterInitial: first.rows,
      filesBefore: byFolder(first.generation.files),
      filesAfter: byFolder(first.filesAfter),
      // The run of median wall time, whole (its per-spoke and per-stretch tables agree with it).
      initial: byWall[Math.floor((byWall.length - 1) / 2)] as PhaseRecord,
      ...(initials.length > 1 ? { initialRuns: aggregate(initials) } : {}),
    };

    if (o.initialOnly) return result;

    // --- no-op re-syncs
    const noops: PhaseRecord[] = [];
    for (let k = 1; k <= o.runs; k++) {
      const rec = await measure(`no-op re-sync #${k}`, false, `noop-${k}`);
      rec.itemsPerSec = examinedOf(rec.m.run) / (rec.m.wallMs / 1000);
      statusChecks(rec.checks, rec.m.run);
      const changes = total(rec.m.run, (s) => s.inbound.created + s.inbound.updated + s.inbound.deleted + s.outbound.created + s.outbound.updated + s.outbound.deleted);
      check(rec.checks, 'changed nothing', changes === 0, didCell(rec.m.run));
      check(rec.checks, 'read no file', total(rec.m.run, (s) => s.read) === 0, `${total(rec.m.run, (s) => s.read)} files read`);
      check(rec.checks, 'examined every file', examinedOf(rec.m.run) === 3 * n, `${int(examinedOf(rec.m.run))} examined, expected ${int(3 * n)}`);
      report(rec);
      noops.push(rec);
    }
    result.noop = aggregate(noops);

    // --- incremental syncs
    const expect = (rec: PhaseRecord, mut: MutationResult) => {
      const r = rec.m.run;
      const inbound = [total(r, (s) => s.inbound.updated), total(r, (s) => s.inbound.created), total(r, (s) => s.inbound.deleted)];
      const outbound = [total(r, (s) => s.outbound.updated), total(r, (s) => s.outbound.created), total(r, (s) => s.outbound.deleted)];
      const want = [mut.edited, mut.created, mut.deleted];
      check(rec.checks, 'hub took every change', inbound.every((x, i) => x === want[i]), `into hub ~${inbound[0]} +${inbound[1]} −${inbound[2]}, expected ~${want[0]} +${want[1]} −${want[2]}`);
      check(
        rec.checks,
        'every change reached the 2 other folders',
        outbound.every((x, i) => x === 2 * (want[i] as number)),
        `${r.kind === 'dry-run' ? 'would write' : 'wrote'} ~${outbound[0]} +${outbound[1]} −${outbound[2]}, expected ~${2 * mut.edited} +${2 * mut.created} −${2 * mut.deleted}`,
      );
    };
    const incs: PhaseRecord[] = [];
    for (let k = 1; k <= o.runs; k++) {
      const mut = await mutate(dirs, o.seed, k, PLAN);
      const rec = await measure(`incremental #${k}`, false, `incremental-${k}`);
      rec.mutation = mut;
      rec.itemsPerSec = examinedOf(rec.m.run) / (rec.m.wallMs / 1000);
      statusChecks(rec.checks, rec.m.run);
      expect(rec, mut);
      const files = await filesPerFolder(dirs);
      check(rec.checks, 'every folder still holds N files', files.every((f) => f === n), `files per folder: ${files.map(int).join(', ')}`);
      report(rec);
      incs.push(rec);
    }
    result.incremental = aggregate(incs);

    if (probing) {
      // What a no-op and an incremental run hold: a full GC at every progress event.
      result.probes = [];
      const rec = await measure('no-op (live-heap probe)', false, 'noop-probe', true);
      rec.itemsPerSec = examinedOf(rec.m.run) / (rec.m.wallMs / 1000);
      report(rec);
      result.probes.push(rec);
      const pm = await mutate(dirs, o.seed, 100, PLAN);
      const inc = await measure('incremental (live-heap probe)', false, 'incremental-probe', true);
      inc.mutation = pm;
      inc.itemsPerSec = examinedOf(inc.m.run) / (inc.m.wallMs / 1000);
      expect(inc, pm);
      report(inc);
      result.probes.push(inc);
    }

    // --- dry run of one more round
    const mut = await mutate(dirs, o.seed, o.runs + 1, PLAN);
    const before = await Promise.all(dirs.map(folderDigest));
    const liveBefore = (await hubRows(dataDir)).live;
    const dry = await measure('dry run', true, 'dry-run');
    dry.mutation = mut;
    dry.itemsPerSec = examinedOf(dry.m.run) / (dry.m.wallMs / 1000);
    const after = await Promise.all(dirs.map(folderDigest));
    const liveAfter = (await hubRows(dataDir)).live;
    statusChecks(dry.checks, dry.m.run);
    expect(dry, mut);
    check(dry.checks, 'no folder changed', before.every((b, i) => b.digest === after[i]?.digest), 'file names, sizes and mtimes before and after compared');
    check(dry.checks, 'the hub did not change', liveBefore === liveAfter, `${int(liveBefore)} → ${int(liveAfter)} live contacts`);
    report(dry);
    result.dryRun = dry;
    return result;
  } finally {
    if (keep) log(`data kept in ${root}`);
    else leftovers.push(root);
  }
}

/**
 * Each size's data is deleted at the end of the whole run, not before the next size is generated
 * and synced: on ext4 without a journal (the disk of some hosts here), files created within 30–300 s
 * of deleting tens of thousands pay kernel time for it (docs/benchmarks.md, "This host's disk"),
 * and a first sync measured right after the harness deleted the previous size's 45,000 files paid
 * for the harness, not for itself.
 */
async function removeAll(roots: string[]): Promise<void> {
  for (const root of roots.splice(0)) await fsp.rm(root, { recursive: true, force: true });
}

function printProfile(sizes: SizeResult[]): void {
  for (const s of sizes) {
    for (const rec of recordsOf(s)) {
      const b = rec.m.breakdown;
      log(`\n--- profile: ${int(s.n)}, ${rec.label}: ${sec(rec.m.wallMs)} s wall, GC ${sec(rec.m.gcMs)} s in ${rec.m.gcCount} collections`);
      if (b) {
        const pct = (ms: number) => `${((100 * ms) / rec.m.wallMs).toFixed(0)} %`;
        log(`SQLite: ${sec(b.sqlite.ms)} s (${pct(b.sqlite.ms)}) in ${int(b.sqlite.calls)} statements, ${int(b.sqlite.transactions)} commits`);
        for (const t of b.sqlite.top) {
          log(`   ${t.statement.padEnd(34)} ${sec(t.ms).padStart(7)} s ${int(t.calls).padStart(10)} calls${t.rows ? ` ${int(t.rows).padStart(12)} rows` : ''}`);
        }
        log(`connector pull (list, stat, read, parse): ${sec(b.connector.pullMs)} s (${pct(b.connector.pullMs)}), ${b.connector.pullPages} pages`);
        log(`connector writes in flight: ${sec(b.connector.writeBusyMs)} s (${pct(b.connector.writeBusyMs)}) of wall`);
        for (const c of b.connector.calls) log(`   ${c.op.padEnd(14)} ${int(c.calls).padStart(8)} calls, ${sec(c.ms)} s summed, ${(c.ms / c.calls).toFixed(2)} ms each`);
      }
      log(segmentTable(rec));
      const p = rec.cpuProfile;
      if (p) {
        log(`CPU profile (${p.file}), self time by area:`);
        for (const a of p.areas.slice(0, 14)) log(`   ${a.area.padEnd(40)} ${sec(a.ms).padStart(7)} s ${(100 * a.share).toFixed(1).padStart(5)} %`);
        log('inclusive time of named steps (synchronous stretches only for async functions):');
        for (const a of p.steps) log(`   ${a.step.padEnd(56)} ${sec(a.ms).padStart(7)} s ${(100 * a.share).toFixed(1).padStart(5)} %`);
        log('hottest functions (self):');
        for (const f of p.functions.slice(0, 15)) log(`   ${f.fn.slice(0, 60).padEnd(60)} ${sec(f.ms).padStart(7)} s ${(100 * f.share).toFixed(1).padStart(5)} %  ${f.area}`);
      }
    }
  }
}

/** The vdir benchmark. `argv`: its options; `recorded`: the whole command line, for the results. */
async function vdirMain(argv: string[], recorded: string[]): Promise<number> {
  const o = parseOptions(argv);
  phaseEnv = o.env;
  if (o.reportOnly) {
    // After a change to the report code: the recorded numbers, rendered again (and the verdicts recomputed).
    const file = path.join(ROOT, 'bench', 'results', 'latest.json');
    const r = JSON.parse(await fsp.readFile(file, 'utf8')) as BenchResults;
    r.verdicts = verdicts(r);
    compactSegments(r);
    await fsp.writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
    updateDocs(path.join(ROOT, 'docs', 'benchmarks.md'), resultsBlock(r));
    log(`docs/benchmarks.md rendered again from ${path.relative(process.cwd(), file)} (run of ${r.finishedAt})`);
    return 0;
  }
  const startedAt = new Date().toISOString();
  // A --tmp folder that does not exist yet is made, so df measures its disk, not nothing.
  await fsp.mkdir(o.tmp, { recursive: true });
  const machine = machineInfo(o.tmp);
  const need = o.sizes.reduce((a, n) => a + n, 0) * BYTES_PER_CONTACT * o.initialRuns;
  const free = freeBytes(o.tmp);
  log(
    `hubsync vdir benchmark: sizes ${o.sizes.map(int).join(', ')}, ${o.initialRuns} initial sync(s) and ${o.runs} run(s) of the cheap phases` +
      `${o.profile ? ', PROFILE mode (instrumented, slower)' : ''}${o.plannerFix ? ', EXPERIMENT: planner fix (entities looked up by primary key)' : ''}` +
      `${o.sharedPhones ? '' : ', EXPERIMENT: no shared switchboard numbers in the data'}`,
  );
  if (Object.keys(o.env).length > 0) log(`environment of the measured processes: ${Object.entries(o.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, Node ${machine.node}, data in ${o.tmp} on ${machine.tmpFs}`);
  log(`disk: needs about ${gb(need)} in ${o.tmp} for ${o.sizes.map(int).join(' + ')} contacts (deleted at the end); ${gb(free)} free`);
  if (free < need) throw new BenchFailure(`not enough free disk in ${o.tmp}: ${gb(free)} free, about ${gb(need)} needed. Use --tmp DIR or smaller --sizes.`);

  const profileDir = path.join(ROOT, 'dist-bench', 'profiles', startedAt.replace(/[:.]/g, '-'));
  if (o.profile) await fsp.mkdir(profileDir, { recursive: true });
  const failures: string[] = [];
  const sizes: SizeResult[] = [];
  const leftovers: string[] = [];
  const npmArgs = recorded.length > 0 ? ` -- ${recorded.join(' ')}` : '';
  const results = (): BenchResults => {
    const r: BenchResults = {
      benchmark: 'vdir',
      command: `npm run bench${npmArgs}`,
      nodeCommand: `tsc -p tsconfig.bench.json && node --expose-gc dist-bench/bench/run.js${recorded.length > 0 ? ` ${recorded.join(' ')}` : ''}`,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine,
      options: { sizes: o.sizes, runs: o.runs, seed: o.seed, quick: o.quick, profile: o.profile, env: o.env, plannerFix: o.plannerFix, sharedPhones: o.sharedPhones, initialOnly: o.initialOnly, initialRuns: o.initialRuns },
      sizes,
      verdicts: [],
      failures,
    };
    r.verdicts = verdicts(r);
    return r;
  };

  const resultsDir = path.join(ROOT, 'bench', 'results');
  try {
    for (const n of o.sizes) {
      sizes.push(await benchSize(n, o, failures, profileDir, leftovers));
      (globalThis as { gc?: () => void }).gc?.();
    }
  } catch (e) {
    const r = results();
    failures.push(e instanceof BenchFailure ? e.message : errorText(e));
    await fsp.mkdir(resultsDir, { recursive: true });
    const file = path.join(resultsDir, o.profile ? 'profile-failed.json' : o.quick ? 'quick-failed.json' : 'failed.json');
    await fsp.writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
    throw e;
  } finally {
    await removeAll(leftovers);
  }

  const r = results();
  log(`\n${phaseTable(r)}\n`);
  log(`${initialSpokeTable(r)}\n`);
  log(`${memoryTable(r)}\n`);
  for (const x of ratios(r)) log(`- ${x}`);
  log(`\n${verdictList(r.verdicts)}`);
  if (o.profile || o.plannerFix) printProfile(sizes);

  await fsp.mkdir(resultsDir, { recursive: true });
  const file = path.join(resultsDir, o.profile ? 'profile-latest.json' : o.write ? 'latest.json' : o.quick ? 'quick.json' : 'experiment.json');
  await fsp.writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
  log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (o.write) {
    updateDocs(path.join(ROOT, 'docs', 'benchmarks.md'), resultsBlock(r));
    log('docs/benchmarks.md updated');
  }
  if (o.profile) log(`CPU profiles: ${profileDir} (open in Chrome DevTools → Performance, or speedscope)`);
  if (failures.length > 0) {
    log(`\n${failures.length} CHECK(S) FAILED:\n${failures.map((f) => `- ${f}`).join('\n')}`);
    return 1;
  }
  return 0;
}

// ----------------------------------------------------------------------------------------------
// `npm run bench`: which benchmarks, and the Google and Microsoft ones in child processes of their own
// (they set emulator URLs in process.env and run the CLI in-process; nothing of that may leak into
// the vdir benchmark).

const BENCHMARKS = ['google', 'microsoft', 'vdir'] as const;
type Benchmark = (typeof BENCHMARKS)[number];

/** Options every benchmark understands; any other option belongs to the vdir benchmark alone. */
const SHARED_FLAGS = new Set(['--quick', '--no-write', '--report-only']);
const SHARED_VALUED = new Set(['--tmp']);

/** Sizes of the Google and Microsoft runs under --quick (printed only, like a quick vdir run). */
const QUICK_ARGS: Record<Exclude<Benchmark, 'vdir'>, string[]> = { google: ['--n', '200'], microsoft: ['--n', '100'] };

interface Selection {
  benchmarks: Benchmark[];
  /** The command line without --only, for the vdir benchmark's parser. */
  rest: string[];
  /** Why the selection is what it is, when it is not what was asked for in so many words. */
  note?: string;
}

function selectBenchmarks(argv: readonly string[]): Selection {
  const rest: string[] = [];
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--only') {
      const v = argv[++i];
      if (v === undefined) throw new BenchFailure(`--only: give one of ${BENCHMARKS.join(', ')} (or a comma list)`);
      only.push(...v.split(','));
    } else if (a.startsWith('--only=')) only.push(...a.slice('--only='.length).split(','));
    else rest.push(a);
  }
  const unknown = only.filter((b) => !(BENCHMARKS as readonly string[]).includes(b));
  if (unknown.length > 0) throw new BenchFailure(`--only: unknown benchmark "${unknown.join(', ')}" (known: ${BENCHMARKS.join(', ')})`);
  if (only.length > 0) return { benchmarks: BENCHMARKS.filter((b) => only.includes(b)), rest };
  const name = (a: string): string => a.split('=')[0] as string;
  const vdirOnly = rest.filter((a, i) => a.startsWith('-') && !SHARED_FLAGS.has(name(a)) && !SHARED_VALUED.has(name(a)) && !SHARED_VALUED.has(rest[i - 1] ?? ''));
  if (vdirOnly.length > 0) return { benchmarks: ['vdir'], rest, note: `${vdirOnly.join(' ')}: options of the vdir benchmark, which runs alone (add --only to choose)` };
  return { benchmarks: [...BENCHMARKS], rest };
}

/** Runs bench/<name>/run.js in a child process; its exit code. */
async function runChildBenchmark(name: Exclude<Benchmark, 'vdir'>, rest: readonly string[]): Promise<number> {
  const args: string[] = [];
  if (rest.includes('--quick')) args.push(...QUICK_ARGS[name]);
  if (rest.includes('--no-write')) args.push('--no-write');
  if (rest.includes('--report-only')) args.push('--report-only');
  const tmpAt = rest.indexOf('--tmp');
  const tmp = tmpAt >= 0 ? rest[tmpAt + 1] : rest.find((a) => a.startsWith('--tmp='))?.slice('--tmp='.length);
  // The two runners put their data in os.tmpdir(), which follows TMPDIR.
  const env = tmp !== undefined ? { ...process.env, TMPDIR: path.resolve(tmp) } : process.env;
  log(`\n== ${name} benchmark (bench/${name}/run.ts${args.length > 0 ? ` ${args.join(' ')}` : ''}) ==`);
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, name, 'run.js'), ...args], { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  log(`== ${name} benchmark: ${code === 0 ? 'done' : `FAILED (exit code ${code})`} in ${((performance.now() - t0) / 1000).toFixed(1)} s ==`);
  return code ?? 1;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const sel = selectBenchmarks(argv);
  if (sel.note !== undefined) log(sel.note);
  // A mistyped vdir option must fail now, not after the other benchmarks have run.
  if (sel.benchmarks.includes('vdir')) parseOptions(sel.rest);
  const failed: string[] = [];
  for (const b of sel.benchmarks) {
    if (b === 'vdir') {
      if (sel.benchmarks.length > 1) log('\n== vdir benchmark ==');
      try {
        if ((await vdirMain(sel.rest, argv)) !== 0) failed.push(b);
      } catch (e) {
        // Reported, and the other benchmarks still run.
        process.stderr.write(`\nbench (vdir): ${e instanceof BenchFailure ? e.message : errorText(e)}\n`);
        failed.push(b);
      }
    } else if ((await runChildBenchmark(b, sel.rest)) !== 0) failed.push(b);
  }
  if (sel.benchmarks.length > 1) log(`\n${failed.length === 0 ? `all ${sel.benchmarks.length} benchmarks done` : `FAILED: ${failed.join(', ')}`}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`\nbench: ${e instanceof BenchFailure ? e.message : errorText(e)}\n`);
    process.exitCode = 1;
  },
);
