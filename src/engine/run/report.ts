/**
 * What a run reports, per spoke and in total: the machine-readable summary the CLI prints with
 * `--json`, stores with the run, and shows in `status`.
 */
import type { ProblemRemedy } from '../../connectors/kit/contract.js';

export interface ItemProblemReport {
  /** The spoke's id of the item (a file name, an href), or the hub contact id. */
  item: string;
  field?: string;
  message: string;
  remedy?: ProblemRemedy;
}

export interface PlannedOp {
  op: 'create' | 'update' | 'delete';
  /** The hub contact. */
  contact: string;
  /** A one-line description ("Ann Lee <ann@example.com>"). */
  label: string;
  /** The fields an update changes. */
  fields?: string[];
}

export interface SpokeReport {
  spokeId: string;
  name: string;
  type: string;
  /** ok: pulled and pushed; error: failed (see `error`); skipped: not part of this run. */
  status: 'ok' | 'error' | 'needs-sign-in';
  error?: string;
  pulled: { items: number; unchanged: number; fullListing: boolean };
  /** Changes this spoke brought into the hub; `moved`: items found under a new id (renamed, moved), not new. */
  inbound: { created: number; updated: number; deleted: number; linked: number; restored: number; conflicts: number; held: number; reviews: number; moved: number };
  /** Changes the hub made (or, in a dry run, would make) in this spoke. */
  outbound: { created: number; updated: number; deleted: number; held: number; failed: number };
  /** Per-item problems (bad data, refused writes), at most MAX_PROBLEMS. */
  problems: ItemProblemReport[];
  problemCount: number;
  /** In a dry run: what would be written, at most MAX_PLANNED. */
  planned: PlannedOp[];
}

export interface RunSummary {
  runId: string;
  hub: string;
  kind: 'sync' | 'dry-run';
  status: 'ok' | 'partial' | 'failed';
  startedAt: number;
  finishedAt: number;
  spokes: SpokeReport[];
  totals: RunTotals;
}

export interface Counts {
  created: number;
  updated: number;
  deleted: number;
}

export interface RunTotals {
  /** Changes the spokes brought into the hub. */
  hub: Counts;
  /** Changes written to the spokes (in a dry run: that would be written). */
  spokes: Counts;
  conflicts: number;
  held: number;
  problems: number;
}

export const MAX_PROBLEMS = 100;
export const MAX_PLANNED = 500;

export function newSpokeReport(s: { id: string; name: string; type: string }): SpokeReport {
  return {
    spokeId: s.id,
    name: s.name,
    type: s.type,
    status: 'ok',
    pulled: { items: 0, unchanged: 0, fullListing: false },
    inbound: { created: 0, updated: 0, deleted: 0, linked: 0, restored: 0, conflicts: 0, held: 0, reviews: 0, moved: 0 },
    outbound: { created: 0, updated: 0, deleted: 0, held: 0, failed: 0 },
    problems: [],
    problemCount: 0,
    planned: [],
  };
}

export function addProblem(r: SpokeReport, p: ItemProblemReport): void {
  r.problemCount += 1;
  if (r.problems.length < MAX_PROBLEMS) r.problems.push(p);
}

/**
 * One item's problem: `item [FIELD]: message`. Connectors write messages that name the item on their
 * own (they are also logged and shown alone), so a message that starts with the item's id is not
 * prefixed with it again, and one that names it further on is printed as it is.
 */
export function problemLine(p: ItemProblemReport): string {
  const field = p.field ? ` [${p.field}]` : '';
  if (p.message.startsWith(`${p.item}: `)) return `${p.item}${field}: ${p.message.slice(p.item.length + 2)}`;
  if (p.message.includes(p.item)) return `${p.message}${field}`;
  return `${p.item}${field}: ${p.message}`;
}

export function addPlanned(r: SpokeReport, p: PlannedOp): void {
  if (r.planned.length < MAX_PLANNED) r.planned.push(p);
}

export function totalsOf(spokes: readonly SpokeReport[]): RunTotals {
  const t: RunTotals = { hub: { created: 0, updated: 0, deleted: 0 }, spokes: { created: 0, updated: 0, deleted: 0 }, conflicts: 0, held: 0, problems: 0 };
  for (const s of spokes) {
    for (const k of ['created', 'updated', 'deleted'] as const) {
      t.hub[k] += s.inbound[k];
      t.spokes[k] += s.outbound[k];
    }
    t.hub.updated += s.inbound.restored;
    t.conflicts += s.inbound.conflicts;
    t.held += s.inbound.held + s.outbound.held;
    t.problems += s.problemCount;
  }
  return t;
}
