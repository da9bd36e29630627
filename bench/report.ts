/**
 * The benchmark's results: their shape (bench/results/latest.json), the tables printed and written
 * to docs/benchmarks.md, and the verdicts against the targets.
 */
import fs from 'node:fs';
import type { ProfileSummary } from './cpuprofile.js';
import { addToSegment, int, median, type PhaseMeasurement, type RunCounts, type Segment } from './common.js';
import type { GenerationStats, MutationResult } from './data.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PhaseRecord {
  label: string;
  m: PhaseMeasurement;
  /** Spawn to exit as the parent saw it: adds Node's start-up and module loading (≈0.2 s). */
  processWallMs: number;
  /** The machine's 1-minute load average when the phase started and ended (noise from others). */
  load: [number, number];
  itemsPerSec: number;
  checks: Check[];
  mutation?: MutationResult;
  cpuProfile?: ProfileSummary;
}

export interface Aggregate {
  runs: PhaseRecord[];
  median: { wallMs: number; cpuMs: number; maxRssMB: number; growthMB: number; itemsPerSec: number };
  minWallMs: number;
  maxWallMs: number;
}

export interface HubRows {
  live: number;
  deleted: number;
  /** Links per spoke name. */
  links: Record<string, number>;
  journal: number;
  conflicts: number;
  reviews: number;
}

export interface SizeResult {
  n: number;
  generation: GenerationStats;
  /** Disk used after the initial sync. */
  disk: { hubMB: number; foldersMB: number };
  hubAfterInitial: HubRows;
  /** Files per folder (by spoke name) before the initial sync (generated) and after it. */
  filesBefore: Record<string, number>;
  filesAfter: Record<string, number>;
  /** The initial sync: the run of median wall time when there were several (`initialRuns`). */
  initial: PhaseRecord;
  /** Every initial sync, when the size had several (each on freshly generated folders). */
  initialRuns?: Aggregate;
  noop?: Aggregate;
  incremental?: Aggregate;
  dryRun?: PhaseRecord;
  /**
   * Profile and experiment modes: one more no-op and one more incremental run with a full GC at
   * every progress event, to see what the run really holds (kept out of the medians: slower).
   */
  probes?: PhaseRecord[];
}

export interface MachineInfo {
  nproc: number;
  cpu: string;
  free: string;
  node: string;
  kernel: string;
  tmpFs: string;
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface BenchResults {
  benchmark: 'vdir';
  command: string;
  nodeCommand: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: {
    sizes: number[];
    runs: number;
    seed: number;
    quick: boolean;
    profile: boolean;
    env: Record<string, string>;
    plannerFix: boolean;
    sharedPhones: boolean;
    initialOnly: boolean;
    /** Absent in results recorded before it existed (one initial sync per size). */
    initialRuns?: number;
  };
  sizes: SizeResult[];
  verdicts: Verdict[];
  failures: string[];
}

// ----------------------------------------------------------------------------------------------

export const sec = (ms: number): string => (ms < 10_000 ? (ms / 1000).toFixed(2) : (ms / 1000).toFixed(1));
export const mb = (x: number): string => x.toFixed(0);
const cpuMs = (m: PhaseMeasurement): number => m.cpuUserMs + m.cpuSysMs;

/** Every measured run of a size. */
export function recordsOf(s: SizeResult): PhaseRecord[] {
  return [...(s.initialRuns?.runs ?? [s.initial]), ...(s.noop?.runs ?? []), ...(s.incremental?.runs ?? []), ...(s.dryRun ? [s.dryRun] : []), ...(s.probes ?? [])];
}

/** Results recorded before phases merged their timeline: merged, so the JSON stays small. */
export function compactSegments(r: BenchResults): void {
  for (const s of r.sizes) {
    for (const rec of recordsOf(s)) {
      rec.m.interleaved = interleaved(rec);
      rec.m.segments = mergedSegments(rec);
    }
  }
}

export function aggregate(runs: PhaseRecord[]): Aggregate {
  const med = (f: (r: PhaseRecord) => number): number => {
    const s = runs.map(f).sort((a, b) => a - b);
    const k = Math.floor(s.length / 2);
    return s.length % 2 ? (s[k] as number) : ((s[k - 1] as number) + (s[k] as number)) / 2;
  };
  const walls = runs.map((r) => r.m.wallMs);
  return {
    runs,
    median: {
      wallMs: med((r) => r.m.wallMs),
      cpuMs: med((r) => cpuMs(r.m)),
      maxRssMB: med((r) => r.m.maxRssMB),
      growthMB: med((r) => r.m.maxRssMB - r.m.startRssMB),
      itemsPerSec: med((r) => r.itemsPerSec),
    },
    minWallMs: Math.min(...walls),
    maxWallMs: Math.max(...walls),
  };
}

function sum(run: RunCounts, f: (s: RunCounts['spokes'][number]) => number): number {
  return run.spokes.reduce((a, s) => a + f(s), 0);
}

/** What the engine says it did, in one cell. */
export function didCell(run: RunCounts): string {
  const read = sum(run, (s) => s.read);
  const examined = sum(run, (s) => s.examined);
  const inC = sum(run, (s) => s.inbound.created);
  const inU = sum(run, (s) => s.inbound.updated);
  const inD = sum(run, (s) => s.inbound.deleted);
  const linked = sum(run, (s) => s.inbound.linked);
  const outC = sum(run, (s) => s.outbound.created);
  const outU = sum(run, (s) => s.outbound.updated);
  const outD = sum(run, (s) => s.outbound.deleted);
  const failed = sum(run, (s) => s.outbound.failed);
  const verb = run.kind === 'dry-run' ? 'would write' : 'wrote';
  const parts = [
    `examined ${int(examined)}, read ${int(read)}`,
    `hub +${int(inC)} ~${int(inU)} −${int(inD)}${linked ? ` (${int(linked)} matched)` : ''}`,
    `${verb} +${int(outC)} ~${int(outU)} −${int(outD)}${failed ? ` (${int(failed)} failed)` : ''}`,
  ];
  if (run.conflicts) parts.push(`${int(run.conflicts)} conflicts`);
  if (run.problems) parts.push(`${int(run.problems)} problems`);
  if (run.status !== 'ok') parts.push(`status ${run.status}`);
  return parts.join('; ');
}

/** The range of the 1-minute load average over some runs (2 CPUs: above 2, others were busy). */
function loadCell(rs: readonly PhaseRecord[]): string {
  const xs = rs.flatMap((r) => r.load ?? []);
  if (xs.length === 0) return '';
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo.toFixed(1) === hi.toFixed(1) ? lo.toFixed(1) : `${lo.toFixed(1)}–${hi.toFixed(1)}`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function phaseTable(results: BenchResults): string {
  const lines = [
    row(['phase', 'hub size', 'runs', 'wall s', 'CPU s (user+sys)', 'of which sys s', 'CPU/wall', 'peak RSS MB', 'RSS growth MB', 'items/s', 'load avg', 'what the engine did (sum over the 3 spokes)']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
  ];
  for (const s of results.sizes) {
    const one = (label: string, r: PhaseRecord) => {
      const c = cpuMs(r.m);
      lines.push(
        row([label, int(s.n), '1', sec(r.m.wallMs), sec(c), sec(r.m.cpuSysMs), (c / r.m.wallMs).toFixed(2), mb(r.m.maxRssMB), mb(r.m.maxRssMB - r.m.startRssMB), int(r.itemsPerSec), loadCell([r]), didCell(r.m.run)]),
      );
    };
    const many = (label: string, a: Aggregate) => {
      const mid = a.runs[Math.floor(a.runs.length / 2)] as PhaseRecord;
      const range = a.runs.length > 1 ? ` (${sec(a.minWallMs)}–${sec(a.maxWallMs)})` : '';
      lines.push(
        row([
          `${label} (median)`,
          int(s.n),
          String(a.runs.length),
          `${sec(a.median.wallMs)}${range}`,
          sec(a.median.cpuMs),
          sec(median(a.runs.map((r) => r.m.cpuSysMs))),
          (a.median.cpuMs / a.median.wallMs).toFixed(2),
          mb(a.median.maxRssMB),
          mb(a.median.growthMB),
          int(a.median.itemsPerSec),
          loadCell(a.runs),
          didCell(mid.m.run),
        ]),
      );
    };
    if (s.initialRuns) many('initial sync', s.initialRuns);
    else one('initial sync', s.initial);
    if (s.noop) many('no-op re-sync', s.noop);
    if (s.incremental) many('incremental', s.incremental);
    if (s.dryRun) one('dry run of an incremental', s.dryRun);
  }
  return lines.join('\n');
}

export function initialSpokeTable(results: BenchResults): string {
  const lines = [
    row(['hub size', 'spoke', 'files before', 'read', 'into hub: created', 'matched', 'conflicts', 'reviews', 'written: created', 'updated', 'files after']),
    row(['---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const s of results.sizes) {
    s.initial.m.run.spokes.forEach((sp) => {
      lines.push(
        row([
          int(s.n),
          sp.name,
          int(s.filesBefore[sp.name] ?? 0),
          int(sp.read),
          int(sp.inbound.created),
          int(sp.inbound.linked),
          int(sp.inbound.conflicts),
          int(sp.inbound.reviews),
          int(sp.outbound.created),
          int(sp.outbound.updated),
          int(s.filesAfter[sp.name] ?? 0),
        ]),
      );
    });
  }
  return lines.join('\n');
}

/**
 * The timeline by stretch ("pull phone", "push laptop"…), merged by label: since the engine pushes
 * to several spokes at once, a spoke's push is many short stretches between other spokes' events,
 * each attributed to the spoke whose progress event ended it. (Phases merge them already; this
 * also reads results recorded before they did.)
 */
export function mergedSegments(r: PhaseRecord): Segment[] {
  const out = new Map<string, Segment>();
  for (const g of r.m.segments) {
    const m = out.get(g.label);
    if (!m) {
      out.set(g.label, { ...g });
      continue;
    }
    addToSegment(m, g);
  }
  return [...out.values()];
}

/** Whether the run switched back to a stretch it had left (spokes pushed at the same time). */
export function interleaved(r: PhaseRecord): boolean {
  if (r.m.interleaved !== undefined) return r.m.interleaved;
  const seen = new Set<string>();
  let prev = '';
  for (const g of r.m.segments) {
    if (g.label !== prev && seen.has(g.label)) return true;
    seen.add(g.label);
    prev = g.label;
  }
  return false;
}

export function segmentTable(r: PhaseRecord): string {
  const segs = mergedSegments(r);
  const live = segs.some((g) => g.peakLiveMB !== undefined);
  const head = ['stretch of the run', 'wall s', 'share', 'CPU s', 'progress events', 'peak RSS MB seen', 'peak V8 heap MB seen', ...(live ? ['live heap MB (after GC)'] : [])];
  const lines = [row(head), row(head.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const g of segs) {
    const cells = [g.label, sec(g.ms), `${((100 * g.ms) / r.m.wallMs).toFixed(0)} %`, sec(g.cpuMs), int(g.events), g.peakRssMB ? mb(g.peakRssMB) : '', g.peakHeapMB ? mb(g.peakHeapMB) : ''];
    if (live) cells.push(g.peakLiveMB ? mb(g.peakLiveMB) : '');
    lines.push(row(cells));
  }
  return lines.join('\n');
}

export function memoryTable(results: BenchResults): string {
  const lines = [
    row(['hub size', 'peak RSS MB (median)', 'RSS at start MB', 'growth during the run MB', 'peak V8 heap MB seen', 'wall s (median)']),
    row(['---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const s of results.sizes) {
    if (!s.incremental) continue;
    const runs = s.incremental.runs;
    const mid = <T>(xs: T[]): T | undefined => xs[Math.floor(xs.length / 2)];
    const startMed = mid(runs.map((r) => r.m.startRssMB).sort((a, b) => a - b)) ?? 0;
    const heapMed = mid(runs.map((r) => Math.max(0, ...r.m.segments.map((g) => g.peakHeapMB ?? 0))).sort((a, b) => a - b)) ?? 0;
    lines.push(row([int(s.n), mb(s.incremental.median.maxRssMB), mb(startMed), mb(s.incremental.median.growthMB), heapMed ? mb(heapMed) : '', sec(s.incremental.median.wallMs)]));
  }
  return lines.join('\n');
}

export function verdicts(results: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  const at = (n: number) => results.sizes.find((s) => s.n === n);
  const big = at(100_000);
  if (big) {
    const i = big.initial.m;
    const all = big.initialRuns;
    if (all) {
      // The median for time, as for the cheap phases; the highest of the runs for memory.
      const peak = Math.max(...all.runs.map((r) => r.m.maxRssMB));
      out.push({
        target: 'initial sync of 100,000 contacts across 3 spokes < 60 s',
        measured:
          `${sec(all.median.wallMs)} s wall (median of ${all.runs.length}, range ${sec(all.minWallMs)}–${sec(all.maxWallMs)} s; ` +
          `${sec(all.median.cpuMs)} s CPU; load average ${loadCell(all.runs)})`,
        met: all.median.wallMs < 60_000,
      });
      out.push({ target: 'peak memory of that sync < 400 MB', measured: `${mb(peak)} MB (the highest of the ${all.runs.length} runs)`, met: peak < 400 });
    } else {
      out.push({
        target: 'initial sync of 100,000 contacts across 3 spokes < 60 s',
        measured: `${sec(i.wallMs)} s wall (${sec(i.cpuUserMs + i.cpuSysMs)} s CPU; load average ${loadCell([big.initial])})`,
        met: i.wallMs < 60_000,
      });
      out.push({ target: 'peak memory of that sync < 400 MB', measured: `${mb(i.maxRssMB)} MB`, met: i.maxRssMB < 400 });
    }
    if (big.noop) {
      out.push({
        target: 'no-op re-sync of 100,000 < 5 s',
        measured: `${sec(big.noop.median.wallMs)} s (median of ${big.noop.runs.length}, range ${sec(big.noop.minWallMs)}–${sec(big.noop.maxWallMs)} s; load average ${loadCell(big.noop.runs)})`,
        met: big.noop.median.wallMs < 5_000,
      });
    }
  } else {
    out.push({ target: 'initial sync of 100,000 contacts < 60 s, < 400 MB; no-op < 5 s', measured: 'not run at 100,000 (use --sizes 10000,100000)', met: null });
  }
  const sizes = results.sizes.filter((s) => s.incremental).sort((a, b) => a.n - b.n);
  const small = sizes[0];
  const large = sizes[sizes.length - 1];
  if (small && large && small !== large && small.incremental && large.incremental) {
    const a = small.incremental.median;
    const b = large.incremental.median;
    const perContact = ((b.maxRssMB - a.maxRssMB) * 1024 * 1024) / (large.n - small.n);
    // "Grows with the changes, not the hub": the same 120 changes on a 10× bigger hub should cost
    // about the same memory. Allowed: 10 % more peak RSS (run-to-run noise is a few MB).
    out.push({
      target: `incremental memory independent of hub size (same 120 changes; peak RSS at ${int(large.n)} within 10 % of ${int(small.n)})`,
      measured: `${mb(a.maxRssMB)} MB at ${int(small.n)} → ${mb(b.maxRssMB)} MB at ${int(large.n)} (×${(b.maxRssMB / a.maxRssMB).toFixed(2)}; growth during the run ${mb(a.growthMB)} → ${mb(b.growthMB)} MB; ≈${perContact.toFixed(0)} bytes per hub contact)`,
      met: b.maxRssMB <= a.maxRssMB * 1.1,
    });
  }
  return out;
}

export function verdictList(vs: readonly Verdict[]): string {
  return vs.map((v) => `- ${v.met === null ? '–' : v.met ? '**met**' : '**MISSED**'}: ${v.target} — measured ${v.measured}`).join('\n');
}

export function ratios(results: BenchResults): string[] {
  const out: string[] = [];
  const sorted = [...results.sizes].sort((a, b) => a.n - b.n);
  const small = sorted[0];
  const large = sorted[sorted.length - 1];
  if (!small || !large || small === large) return out;
  const k = large.n / small.n;
  const r = (a: number, b: number) => (b / a).toFixed(1);
  out.push(`${k}× the contacts: initial sync ×${r(small.initial.m.wallMs, large.initial.m.wallMs)} wall, ×${r(cpuMs(small.initial.m), cpuMs(large.initial.m))} CPU, ×${r(small.initial.m.maxRssMB, large.initial.m.maxRssMB)} peak RSS`);
  if (small.noop && large.noop) out.push(`no-op re-sync ×${r(small.noop.median.wallMs, large.noop.median.wallMs)} wall, ×${r(small.noop.median.maxRssMB, large.noop.median.maxRssMB)} peak RSS`);
  if (small.incremental && large.incremental) {
    out.push(`incremental (same 120 changes) ×${r(small.incremental.median.wallMs, large.incremental.median.wallMs)} wall, ×${r(small.incremental.median.maxRssMB, large.incremental.median.maxRssMB)} peak RSS`);
  }
  const perContact = (s: SizeResult) => `${((1000 * s.initial.m.wallMs) / s.n).toFixed(0)} µs at ${int(s.n)}`;
  out.push(`initial sync wall time per contact: ${perContact(small)}, ${perContact(large)}`);
  return out;
}

export function machineLine(m: MachineInfo): string {
  return `${m.nproc} CPUs (\`nproc\`), ${m.cpu}; Node ${m.node}; Linux ${m.kernel}; data on ${m.tmpFs}`;
}

/** The generated part of docs/benchmarks.md's vdir section. */
export function resultsBlock(results: BenchResults): string {
  const big = [...results.sizes].sort((a, b) => b.n - a.n)[0];
  const parts = [
    `Run of ${results.finishedAt.slice(0, 16).replace('T', ' ')} UTC, ${results.failures.length === 0 ? 'all correctness checks passed' : `**${results.failures.length} check(s) failed**`}.`,
    '',
    `Command: \`${results.command}\` (runs \`${results.nodeCommand}\`). Raw numbers: \`bench/results/latest.json\`.`,
    '',
    `Machine: ${machineLine(results.machine)}. \`free -g\`:`,
    '',
    '```',
    results.machine.free.trimEnd(),
    '```',
    '',
    '#### Against the targets',
    '',
    verdictList(results.verdicts),
    '',
    '#### All phases',
    '',
    phaseTable(results),
    '',
    'wall: opening the store to closing it, inside the measured process (Node start-up, ≈0.2 s, is not included). ' +
      'CPU: user + system time of that process over the same span (SQLite and file I/O run in it; libuv threads included); sys: the part of it spent in the kernel (file system calls), which depends on the disk as much as on the code. ' +
      'Peak RSS: `process.resourceUsage().maxRSS` of that process; RSS growth: peak minus the RSS before the store was opened (Node and the loaded modules, ≈' +
      `${mb(big?.initial.m.startRssMB ?? 0)} MB). ` +
      'items/s: hub contacts / wall for the initial sync; files examined (listed by the 3 spokes) / wall for the other phases. ' +
      `load avg: the machine's 1-minute load average at the start and end of the phase(s); with ${results.machine.nproc} CPUs, more than ${results.machine.nproc} means other work was competing (wall time suffers first; CPU time much less). ` +
      'Engine counts: "+created ~updated −deleted", "hub" = into the hub, "wrote" = written to the folders.',
    '',
  ];
  const rs = ratios(results);
  if (rs.length > 0) parts.push('Ratios:', '', ...rs.map((x) => `- ${x}`), '');
  parts.push('#### Incremental memory vs hub size (the same 100 edits, 10 creates, 10 deletes at each size)', '', memoryTable(results), '');
  parts.push('#### Initial sync, per spoke', '', initialSpokeTable(results), '');
  if (big) {
    parts.push(`#### Initial sync of ${int(big.n)}: where the wall time went (from the engine's progress events)`, '', segmentTable(big.initial), '');
    if (interleaved(big.initial)) {
      parts.push(
        'The engine pushed to several spokes at the same time: each push row adds up the stretches that ended with one of that spoke\'s progress events, so the rows still add up to the wall time, but a spoke\'s row is not the time its own push took.',
        '',
      );
    }
    parts.push(
      `Hub store after it: ${int(big.hubAfterInitial.live)} contacts, ${int(big.hubAfterInitial.journal)} journal rows, ` +
        `${Object.values(big.hubAfterInitial.links).map(int).join(' + ')} links, ${int(big.hubAfterInitial.conflicts)} conflicts, ${int(big.hubAfterInitial.reviews)} reviews; ` +
        `${mb(big.disk.hubMB)} MB on disk (folders: ${mb(big.disk.foldersMB)} MB). GC during the sync: ${int(big.initial.m.gcCount)} collections, ${sec(big.initial.m.gcMs)} s.`,
      '',
    );
    const m = big.initial.m;
    if (m.mainThreadCpuMs !== undefined) {
      parts.push(
        `CPU by thread: the main thread (the engine, SQLite, parsing and writing vCards) ${sec(m.mainThreadCpuMs)} s, ` +
          `${Math.round((100 * m.mainThreadCpuMs) / m.wallMs)} % of the wall time; the other threads (the vdir spoke's ` +
          `workers, libuv's thread pool with the fsyncs, V8's GC helpers) ${sec(m.cpuUserMs + m.cpuSysMs - m.mainThreadCpuMs)} s.`,
        '',
      );
    }
  }
  if (results.failures.length > 0) parts.push('#### Failed checks', '', ...results.failures.map((f) => `- ${f}`), '');
  return parts.join('\n');
}

// ----------------------------------------------------------------------------------------------

export const BEGIN = '<!-- BEGIN GENERATED: vdir (npm run bench) -->';
export const END = '<!-- END GENERATED: vdir -->';

const TEMPLATE = `# Benchmarks

How long Hubsync takes and how much memory it needs, measured with the real engine on generated
address books. Each benchmark has a section of its own with the same layout: what it does, the
command, the machine, the numbers, and what they say. The tables between the \`GENERATED\` markers
are rewritten by the benchmark; the prose around them is written by people.

## vdir spokes (folders of .vcf files)

${BEGIN}
${END}
`;

/** Rewrites the generated part of the vdir section, creating the file or the section if needed. */
export function updateDocs(file: string, block: string): void {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : TEMPLATE;
  if (!text.includes(BEGIN) || !text.includes(END)) text = `${text.trimEnd()}\n\n${TEMPLATE.slice(TEMPLATE.indexOf('## vdir'))}`;
  const a = text.indexOf(BEGIN) + BEGIN.length;
  const b = text.indexOf(END);
  fs.writeFileSync(file, `${text.slice(0, a)}\n${block.trim()}\n${text.slice(b)}`);
}
