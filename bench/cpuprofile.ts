/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the main thread's time went:
 * self time by area of the code (the vCard model, the vdir connector, the engine, Kysely, SQLite,
 * Node's fs, GC, idle) and the hottest functions.
 */
import fs from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  areas: { area: string; ms: number; share: number }[];
  functions: { fn: string; area: string; ms: number; share: number }[];
  /** Inclusive time of the engine's and the connector's main steps. */
  steps: { step: string; ms: number; share: number }[];
}

/** Where a frame belongs. Native callbacks (SQLite, fsync) show under the JS frame that called them. */
export function areaOf(f: CallFrame): string {
  const u = f.url;
  if (u === '') {
    if (f.functionName === '(garbage collector)') return 'GC';
    if (f.functionName === '(idle)') return 'idle (waiting for I/O)';
    if (f.functionName === '(program)') return 'V8/native (program)';
    if (f.functionName === '(root)') return 'root';
    return `native: ${f.functionName}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1] === 'better-sqlite3' ? 'SQLite (better-sqlite3)' : `npm: ${nm[1]}`;
  const src = /\/src\/((?:[^/]+\/)?[^/]+)\//.exec(u);
  if (src) return `src/${src[1]}`;
  const srcTop = /\/src\/([^/]+)\.js$/.exec(u);
  if (srcTop) return `src/${srcTop[1]}`;
  if (u.startsWith('node:')) {
    if (u.includes('/fs')) return 'node: fs';
    if (u.includes('/timers') || u.includes('/process/task_queues')) return 'node: event loop';
    return 'node: other';
  }
  // The timed statement wrappers (profile mode): their self time is SQLite's native work.
  if (u.endsWith('/bench/instrument.js')) return 'SQLite (better-sqlite3)';
  if (u.includes('/bench/')) return 'bench harness';
  return 'other';
}

/** Functions (name@file) whose inclusive time is a step of a run worth naming. */
const STEPS: Record<string, string> = {
  'pullInbound@inbound.js': 'engine: pullInbound (whole inbound pass)',
  'applyItems@inbound.js': 'engine: applyItems (merge pages into the hub)',
  'applyNews@inbound.js': 'engine: applyNews (first-sync matching + creates)',
  'applyEdits@inbound.js': 'engine: applyEdits',
  'applyDeletions@inbound.js': 'engine: applyDeletions',
  'observe@inbound.js': 'engine: observe (card -> fields, hash)',
  'saveEntities@entities.js': 'engine: saveEntities (entities, keys, journal)',
  'insertLinks@links.js': 'engine: insertLinks',
  'upsertLink@links.js': 'engine: upsertLink',
  'pushOutbound@outbound.js': 'engine: pushOutbound (whole outbound pass)',
  'execute@outbound.js': 'engine: execute (intents, connector calls, outcomes)',
  'record@outbound.js': 'engine: record (outcomes: link upsert, intent drop)',
  'call@outbound.js': 'engine: call (connector write, fieldsToCard)',
  'matchItems@match.js': 'plan: matchItems',
  'applyChanges@merge.js': 'plan: applyChanges (merge)',
  'cardToFields@card-fields.js': 'model: cardToFields',
  'fieldsToCard@card-fields.js': 'model: fieldsToCard',
  'hashFields@fields.js': 'model: hashFields',
  'parseVCard@vcard.js': 'model: parseVCard',
  'parseVCards@vcard.js': 'model: parseVCards',
  'toVCard@vcard.js': 'model: toVCard',
  'updateVCard@vcard.js': 'model: updateVCard',
  'liftVcf@lift.js': 'vdir: liftVcf (parse a file into a card)',
  'statAll@fs-io.js': 'vdir: statAll',
  'readAll@fs-io.js': 'vdir: readAll',
  'writeTempFile@fs-io.js': 'vdir: writeTempFile',
  'create@vdir-connector.js': 'vdir: create',
  'echo@vdir-connector.js': 'vdir: echo (re-parse what was written)',
};

export function summarizeCpuProfile(file: string, topN = 20): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000; // µs → ms; sample i lasts until sample i+1
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const totalMs = (p.endTime - p.startTime) / 1000;

  const areas = new Map<string, number>();
  const fns = new Map<string, { area: string; ms: number }>();
  const steps = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const area = areaOf(n.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const base = n.callFrame.url.split('/').pop() ?? '';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${base ? `${base}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    const f = fns.get(key);
    if (f) f.ms += ms;
    else fns.set(key, { area, ms });
    // Inclusive time of named steps: walk up once per step name (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      const step = cf ? STEPS[`${cf.functionName}@${cf.url.split('/').pop() ?? ''}`] : undefined;
      if (step && !seen.has(step)) {
        seen.add(step);
        steps.set(step, (steps.get(step) ?? 0) + ms);
      }
    }
  }
  const share = (ms: number) => (totalMs > 0 ? ms / totalMs : 0);
  return {
    file,
    totalMs,
    areas: [...areas].map(([area, ms]) => ({ area, ms, share: share(ms) })).sort((a, b) => b.ms - a.ms),
    functions: [...fns]
      .map(([fn, v]) => ({ fn, area: v.area, ms: v.ms, share: share(v.ms) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topN),
    steps: [...steps].map(([step, ms]) => ({ step, ms, share: share(ms) })).sort((a, b) => b.ms - a.ms),
  };
}
