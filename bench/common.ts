/**
 * What the benchmark's parent (run.ts) and its measured children (phase.ts) exchange, and small
 * helpers both use. Each measured phase runs in a child process of its own, so that its peak RSS
 * and CPU time are its own and not the harness's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunSummary } from '../src/engine/run/report.js';

export interface SpokeSpec {
  name: string;
  dir: string;
}

/** Creates the hub and its vdir spokes (not measured). */
export interface SetupSpec {
  mode: 'setup';
  dataDir: string;
  hub: string;
  spokes: SpokeSpec[];
}

/** One measured sync run. */
export interface SyncSpec {
  mode: 'sync';
  dataDir: string;
  hub: string;
  dryRun: boolean;
  /**
   * Profile mode: time every SQLite statement and every connector call (the store is opened by the
   * bench with the same pragmas as `openStore`, wrapped). Adds overhead; never used for the headline.
   */
  instrument: boolean;
  /**
   * Experiment (needs `instrument`): rewrite `… where "hub_id" = ? and "id" in (…)` on entities to
   * `+"hub_id"`, so SQLite looks the ids up by primary key instead of scanning the hub's
   * (hub_id, version) index. Measures what that engine fix would give; never for the headline.
   */
  plannerFix: boolean;
  /**
   * Profile mode: collect garbage at every progress event and record the heap still in use, i.e.
   * what the run really holds at that point (slow: a full GC per event).
   */
  liveHeap: boolean;
}

export type PhaseSpec = SetupSpec | SyncSpec;

export interface SpokeCounts {
  name: string;
  status: string;
  error?: string;
  /** Files the spoke listed (new or changed + unchanged). */
  examined: number;
  /** Files read and parsed (new or changed). */
  read: number;
  inbound: { created: number; updated: number; deleted: number; linked: number; restored: number; conflicts: number; held: number; reviews: number };
  outbound: { created: number; updated: number; deleted: number; held: number; failed: number };
  problems: number;
  firstProblems: string[];
  planned: number;
}

export interface RunCounts {
  runId: string;
  kind: string;
  status: string;
  /** finishedAt − startedAt as the engine reports it. */
  engineMs: number;
  /** As the engine reports them (their shape is the engine's). */
  totals: RunSummary['totals'];
  conflicts: number;
  problems: number;
  spokes: SpokeCounts[];
}

/**
 * A stretch of the run, from the engine's progress events: "pull phone", "push laptop"… A
 * segment ends at its last progress event and starts where the previous one ended, so its length
 * is approximate (a push with nothing to send emits no event and is folded into the next one).
 */
export interface Segment {
  label: string;
  ms: number;
  /** CPU time (user + system) of the process over the same stretch. */
  cpuMs: number;
  events: number;
  /** The largest RSS seen at this segment's progress events. */
  peakRssMB: number;
  /** The largest V8 heap in use seen at this segment's progress events. */
  peakHeapMB: number;
  /** With `liveHeap`: the largest heap in use right after a full GC at this segment's events. */
  peakLiveMB?: number;
}

/** Adds `g` to `into`, a segment of the same label: times and events add up, peaks take the larger. */
export function addToSegment(into: Segment, g: Segment): void {
  into.ms += g.ms;
  into.cpuMs += g.cpuMs;
  into.events += g.events;
  into.peakRssMB = Math.max(into.peakRssMB, g.peakRssMB);
  into.peakHeapMB = Math.max(into.peakHeapMB, g.peakHeapMB);
  if (g.peakLiveMB !== undefined) into.peakLiveMB = Math.max(into.peakLiveMB ?? 0, g.peakLiveMB);
}

export interface SqliteStat {
  statement: string;
  calls: number;
  ms: number;
  /** Rows returned (reads). */
  rows: number;
}

/** Profile mode only: where the wall time of the run went. */
export interface Breakdown {
  sqlite: { ms: number; calls: number; transactions: number; top: SqliteStat[] };
  connector: {
    /** Time spent inside the connector's pull iterator (listing, stat, read, vCard parsing). */
    pullMs: number;
    pullPages: number;
    /** Wall time during which at least one write call (create/update/delete/get) was in flight. */
    writeBusyMs: number;
    calls: { op: string; calls: number; ms: number }[];
  };
}

export interface PhaseMeasurement {
  /** From opening the store to closing it: what `hubsync sync` spends after Node has started. */
  wallMs: number;
  cpuUserMs: number;
  cpuSysMs: number;
  /**
   * The part of that CPU time spent by the main thread (user + sys), where Linux's /proc says it.
   * The rest is the vdir spoke's worker threads, libuv's thread pool (fsyncs) and V8's helpers.
   */
  mainThreadCpuMs?: number;
  /** process.resourceUsage().maxRSS of the child: the whole process, Node itself included. */
  maxRssMB: number;
  /** RSS just before the store was opened (Node + the loaded modules). */
  startRssMB: number;
  gcMs: number;
  gcCount: number;
  /** By label, in order of first appearance (see Timeline). */
  segments: Segment[];
  /** The run came back to a stretch it had left: spokes were pushed to at the same time. */
  interleaved?: boolean;
  run: RunCounts;
  breakdown?: Breakdown;
}

export interface PhaseOutput {
  ok: boolean;
  error?: string;
  measurement?: PhaseMeasurement;
}

export const MB = 1024 * 1024;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `12,345` */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function errorText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/**
 * The repository root, whether a script runs from `bench/` (tsx) or compiled from
 * `dist-bench/bench/` (`npm run bench`): the nearest folder above `from` that holds package.json.
 */
export function repoRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * Replaces the generated part of one benchmark's section of a Markdown file: the text between
 * `<!-- BEGIN GENERATED: name …-->` and `<!-- END GENERATED: name -->`. `body` starts with the
 * new BEGIN line (whose command may differ from the old one) and ends with the END line.
 */
export function replaceGenerated(text: string, name: string, body: string): string | null {
  const start = text.indexOf(`<!-- BEGIN GENERATED: ${name} `);
  const endMarker = `<!-- END GENERATED: ${name} -->`;
  const end = text.indexOf(endMarker);
  if (start < 0 || end < start) return null;
  return `${text.slice(0, start)}${body}${text.slice(end + endMarker.length)}`;
}
