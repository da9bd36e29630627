/**
 * Continuous sync. Each hub runs every `interval_minutes` (default 15, per hub) and on "Sync now";
 * never two runs of the same hub at once (an in-process guard here, and the engine's lease in the
 * store across processes). A spoke that fails is left out of the scheduled runs for a growing
 * while (exponential backoff, capped at 6 hours) while the hub's other spokes go on; "Sync now"
 * still tries it. When is a hub due: its last run's start plus its interval, read from the store,
 * so a restarted server resumes the schedule where it was.
 */
import type { Logger } from 'pino';
import type { ProgressEvent } from '../engine/run/context.js';
import type { RunSummary } from '../engine/run/report.js';
import { syncHub, type EngineDeps } from '../engine/run/sync-hub.js';
import { listSpokes } from '../store/hubs.js';
import type { Metrics } from './metrics.js';
import { hubSchedule } from './tenancy.js';

export interface HubProgress {
  startedAt: number;
  reason: 'schedule' | 'manual' | 'preview';
  spoke?: string;
  phase?: ProgressEvent['phase'];
  done?: number;
  total?: number;
}

const MAX_BACKOFF_MS = 6 * 3600_000;

export class HubRunner {
  private readonly running = new Map<string, HubProgress>();
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(
    private readonly engine: EngineDeps,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  progress(hubId: string): HubProgress | undefined {
    return this.running.get(hubId);
  }

  isRunning(hubId: string): boolean {
    return this.running.has(hubId);
  }

  spokeBackoff(spokeId: string): { failures: number; until: number } | undefined {
    return this.backoff.get(spokeId);
  }

  /**
   * Runs `fn` as the hub's only activity (a sync, or the preview's temporary option change).
   * Returns null when the hub is already busy.
   */
  async exclusive<T>(hubId: string, reason: HubProgress['reason'], fn: (deps: EngineDeps) => Promise<T>, waitMs = 0): Promise<T | null> {
    const until = Date.now() + waitMs;
    while (this.running.has(hubId) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (this.running.has(hubId)) return null;
    const p: HubProgress = { startedAt: this.engine.now(), reason };
    this.running.set(hubId, p);
    this.metrics.running.inc();
    try {
      return await fn({
        ...this.engine,
        onProgress: (ev) => {
          p.spoke = ev.spoke;
          p.phase = ev.phase;
          p.done = ev.done;
          if (ev.total !== undefined) p.total = ev.total;
          else delete p.total;
        },
      });
    } finally {
      this.running.delete(hubId);
      this.metrics.running.dec();
    }
  }

  /** One run of the hub (all spokes, or `spokeNames`). Null when a run of the hub is already going. */
  async run(hubId: string, opts: { reason: 'schedule' | 'manual'; spokeNames?: string[] }): Promise<RunSummary | null> {
    // "Sync now" during a run waits for it and then runs: the person asked for a run that sees
    // what they just changed (an option, a contact), which the run in progress may not.
    const wait = opts.reason === 'manual' ? 10 * 60_000 : 0;
    const summary = await this.exclusive(hubId, opts.reason, async (deps) => {
      let names = opts.spokeNames;
      if (opts.reason === 'schedule' && !names) {
        const now = this.engine.now();
        const spokes = await listSpokes(this.engine.db, hubId);
        const ready = spokes.filter((s) => (this.backoff.get(s.id)?.until ?? 0) <= now);
        if (ready.length === 0) return null;
        if (ready.length < spokes.length) names = ready.map((s) => s.name);
      }
      return syncHub(deps, { hub: hubId, ...(names ? { spokes: names } : {}) });
    }, wait);
    if (!summary) return null;
    this.metrics.recordRun(summary);
    const now = this.engine.now();
    for (const s of summary.spokes) {
      if (s.status === 'ok') {
        this.backoff.delete(s.spokeId);
      } else {
        const failures = (this.backoff.get(s.spokeId)?.failures ?? 0) + 1;
        const { intervalMinutes } = await hubSchedule(this.engine.db, hubId);
        const wait = Math.min(intervalMinutes * 60_000 * 2 ** (failures - 1), MAX_BACKOFF_MS);
        this.backoff.set(s.spokeId, { failures, until: now + wait });
        this.log.warn({ hub: summary.hub, spoke: s.name, failures, retryInMs: wait, err: s.error }, 'spoke failed; backing off');
      }
    }
    this.log.info({ hub: summary.hub, run: summary.runId, status: summary.status, totals: summary.totals, reason: opts.reason }, 'sync run finished');
    return summary;
  }

  /** When the hub is next due, from the store (null when paused). */
  async nextRunAt(hubId: string): Promise<number | null> {
    const sched = await hubSchedule(this.engine.db, hubId);
    if (sched.paused) return null;
    const last = await this.engine.db
      .selectFrom('runs')
      .select('started_at')
      .where('hub_id', '=', hubId)
      .where('kind', '=', 'sync')
      .orderBy('started_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return last ? last.started_at + sched.intervalMinutes * 60_000 : this.engine.now();
  }

  /** Runs every due hub once. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const hubs = await this.engine.db.selectFrom('hubs').select(['id', 'name']).execute();
      for (const h of hubs) {
        const due = await this.nextRunAt(h.id);
        if (due === null || due > this.engine.now() || this.running.has(h.id)) continue;
        // Spokes with no contacts to offer yet (a hub being set up in the wizard) are synced as well:
        // that is how the wizard's first run happens without a click.
        const spokes = await listSpokes(this.engine.db, h.id);
        if (spokes.length === 0) continue;
        try {
          await this.run(h.id, { reason: 'schedule' });
        } catch (e) {
          this.log.error({ hub: h.name, err: e instanceof Error ? e.message : String(e) }, 'scheduled run failed');
        }
      }
    } finally {
      this.ticking = false;
    }
  }

  start(everyMs = 30_000): void {
    this.stop();
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Waits for runs in progress (shutdown). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  }
}
