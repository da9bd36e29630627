/**
 * Prometheus metrics (prom-client), served at /metrics: sync runs, items changed, errors and
 * provider API calls. A registry per server, so tests can run several servers in one process.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunSummary } from '../engine/run/report.js';

export class Metrics {
  readonly registry = new Registry();
  readonly runs = new Counter({ name: 'hubsync_sync_runs_total', help: 'Sync runs by kind and outcome', labelNames: ['kind', 'status'], registers: [this.registry] });
  readonly items = new Counter({
    name: 'hubsync_items_changed_total',
    help: 'Contacts changed by sync runs: into the hub (inbound) or written to spokes (outbound)',
    labelNames: ['direction', 'op'],
    registers: [this.registry],
  });
  readonly errors = new Counter({ name: 'hubsync_spoke_errors_total', help: 'Spokes that failed in a run, by spoke type', labelNames: ['type'], registers: [this.registry] });
  readonly apiCalls = new Counter({ name: 'hubsync_provider_api_calls_total', help: 'HTTP calls made to providers, by provider and status class', labelNames: ['provider', 'status'], registers: [this.registry] });
  readonly running = new Gauge({ name: 'hubsync_runs_in_progress', help: 'Sync runs in progress', registers: [this.registry] });

  constructor(defaults = false) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  recordRun(s: RunSummary): void {
    this.runs.inc({ kind: s.kind, status: s.status });
    if (s.kind !== 'sync') return;
    for (const op of ['created', 'updated', 'deleted'] as const) {
      if (s.totals.hub[op]) this.items.inc({ direction: 'inbound', op }, s.totals.hub[op]);
      if (s.totals.spokes[op]) this.items.inc({ direction: 'outbound', op }, s.totals.spokes[op]);
    }
    for (const sp of s.spokes) if (sp.status !== 'ok') this.errors.inc({ type: sp.type });
  }

  /** Wraps a fetch so every call to the provider is counted. */
  countingFetch(provider: string, inner: typeof globalThis.fetch = globalThis.fetch): typeof globalThis.fetch {
    return async (input, init) => {
      try {
        const res = await inner(input, init);
        this.apiCalls.inc({ provider, status: `${Math.floor(res.status / 100)}xx` });
        return res;
      } catch (e) {
        this.apiCalls.inc({ provider, status: 'network-error' });
        throw e;
      }
    };
  }
}
