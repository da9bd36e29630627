/**
 * One benchmark phase, in a process of its own: `node dist-bench/bench/phase.js SPEC_JSON RESULT_FILE`.
 *
 * `sync` opens the hub store the way the CLI does (`openApp`), runs `syncHub` — exactly what
 * `hubsync --data-dir D sync HUB --json` does, minus printing — closes the store, and writes its
 * wall time, CPU time, peak RSS and the engine's own counts to RESULT_FILE. The counting that
 * proves the sync right happens afterwards in the parent, so it does not add to this process's
 * peak memory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import os from 'node:os';
import { openApp } from '../src/cli/app.js';
import { builtinConnectors } from '../src/connectors/registry.js';
import { defaultSpokeOptions } from '../src/engine/plan/options.js';
import { uuidv7Generator } from '../src/engine/ids.js';
import type { RunSummary } from '../src/engine/run/report.js';
import { syncHub, type EngineDeps } from '../src/engine/run/sync-hub.js';
import { addSpoke, createHub } from '../src/store/hubs.js';
import { MB, errorText, type PhaseMeasurement, type PhaseOutput, type PhaseSpec, type RunCounts, type SetupSpec, type SyncSpec } from './common.js';
import { ConnectorTimer, SqliteTimer, Timeline, openTimedStore, timedFactories } from './instrument.js';

async function setup(spec: SetupSpec): Promise<void> {
  const app = await openApp({ dataDir: spec.dataDir });
  try {
    const hub = await createHub(app.store.db, { id: app.engine.ids(), name: spec.hub, object: 'contacts', now: Date.now() });
    // One millisecond apart, in the given order: spokes are pulled in creation order (then by
    // name), and two made in the same millisecond would be pulled by name, so the order of the
    // first sync (and what it matches and merges) varied from run to run.
    const t0 = Date.now();
    for (const [k, s] of spec.spokes.entries()) {
      await addSpoke(app.store.db, {
        id: app.engine.ids(),
        hubId: hub.id,
        name: s.name,
        type: 'vdir',
        config: { path: s.dir },
        options: { ...defaultSpokeOptions(), allowCreate: true, defaultRegion: 'FR' },
        now: t0 + k,
      });
    }
  } finally {
    await app.close();
  }
}

function countsOf(r: RunSummary): RunCounts {
  return {
    runId: r.runId,
    kind: r.kind,
    status: r.status,
    engineMs: r.finishedAt - r.startedAt,
    totals: r.totals,
    conflicts: r.spokes.reduce((a, s) => a + s.inbound.conflicts, 0),
    problems: r.spokes.reduce((a, s) => a + s.problemCount, 0),
    spokes: r.spokes.map((s) => ({
      name: s.name,
      status: s.status,
      ...(s.error !== undefined ? { error: s.error } : {}),
      examined: s.pulled.items + s.pulled.unchanged,
      read: s.pulled.items,
      inbound: s.inbound,
      outbound: s.outbound,
      problems: s.problemCount,
      firstProblems: s.problems.slice(0, 5).map((p) => `${p.item}${p.field ? ` [${p.field}]` : ''}: ${p.message}`),
      planned: s.planned.length,
    })),
  };
}

/**
 * CPU time of the main thread (user + sys, ms) from /proc/self/task/PID/stat (fields 14 and 15,
 * in clock ticks; proc(5)); null where there is no /proc. `process.cpuUsage()` counts every
 * thread, and on two cores whether the main thread or the others are the limit is the question.
 */
function mainThreadCpuMs(): number | null {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux Node runs on, asked anyway. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

async function sync(spec: SyncSpec): Promise<PhaseMeasurement> {
  let gcMs = 0;
  let gcCount = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount += 1;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });

  const startRss = process.memoryUsage.rss();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = performance.now();
  const timeline = new Timeline(t0, spec.liveHeap, cpu0);

  let summary: RunSummary;
  let breakdown: PhaseMeasurement['breakdown'];
  if (!spec.instrument) {
    const app = await openApp({ dataDir: spec.dataDir });
    try {
      summary = await syncHub({ ...app.engine, onProgress: timeline.onProgress }, { hub: spec.hub, dryRun: spec.dryRun });
    } finally {
      await app.close();
    }
  } else {
    const sqlite = new SqliteTimer();
    const conns = new ConnectorTimer();
    const store = await openTimedStore(path.join(spec.dataDir, 'hubsync.db'), sqlite, { plannerFix: spec.plannerFix });
    const deps: EngineDeps = {
      db: store.db,
      factories: timedFactories(builtinConnectors(), conns),
      now: Date.now,
      ids: uuidv7Generator(),
      holder: `${os.hostname()}:${process.pid}:bench`,
      onProgress: timeline.onProgress,
      bulkWrites: store.bulkWrites,
    };
    try {
      summary = await syncHub(deps, { hub: spec.hub, dryRun: spec.dryRun });
    } finally {
      await store.close();
    }
    breakdown = { sqlite: sqlite.summary(), connector: conns.summary() };
  }

  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuMs();
  // Let the observer deliver the last GC entries.
  await new Promise((r) => setImmediate(r));
  gcObserver.disconnect();
  const { segments, interleaved } = timeline.segments(t1);
  return {
    wallMs: t1 - t0,
    cpuUserMs: cpu.user / 1000,
    cpuSysMs: cpu.system / 1000,
    ...(main0 !== null && main1 !== null ? { mainThreadCpuMs: main1 - main0 } : {}),
    maxRssMB: (process.resourceUsage().maxRSS * 1024) / MB,
    startRssMB: startRss / MB,
    gcMs,
    gcCount,
    segments,
    interleaved,
    run: countsOf(summary),
    ...(breakdown ? { breakdown } : {}),
  };
}

async function main(): Promise<void> {
  const [specJson, resultFile] = process.argv.slice(2);
  if (!specJson || !resultFile) throw new Error('usage: node dist-bench/bench/phase.js SPEC_JSON RESULT_FILE');
  const spec = JSON.parse(specJson) as PhaseSpec;
  let out: PhaseOutput;
  try {
    if (spec.mode === 'setup') {
      await setup(spec);
      out = { ok: true };
    } else {
      out = { ok: true, measurement: await sync(spec) };
    }
  } catch (e) {
    out = { ok: false, error: errorText(e) };
  }
  fs.writeFileSync(resultFile, JSON.stringify(out));
  if (!out.ok) process.exitCode = 1;
}

await main();
