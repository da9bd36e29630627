/**
 * What one sync run carries: the store handle (a transaction for a dry run), the clock, ids, the
 * run's id and the hub. Everything with I/O that the engine uses comes in through here.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../../store/schema.js';
import type { HubClock } from '../hlc.js';
import type { IdGen } from '../ids.js';
import type { PlanGuard } from './plan-guard.js';

export type Db = Kysely<Schema> | Transaction<Schema>;

export interface ProgressEvent {
  spoke: string;
  phase: 'pull' | 'push' | 'verify';
  done: number;
  /** When known. */
  total?: number;
}

export interface RunContext {
  db: Db;
  /** Runs `fn` atomically: in its own transaction, or inside the dry run's enclosing one. */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  clock: HubClock;
  ids: IdGen;
  hubId: string;
  runId: string;
  dryRun: boolean;
  progress(ev: ProgressEvent): void;
  /** Shared by the run's concurrent pushes (see plan-guard.ts). */
  guard: PlanGuard;
  /** Says that the run is writing many rows (`BULK_ROWS` at once): the store may size its caches for it. */
  bulk?(): void;
  /**
   * How often every spoke followed by a cursor is listed in full anyway, overriding each spoke's
   * `fullListingHours` option (for simulations, whose clocks run fast).
   */
  fullListingEveryMs?: number;
}

/**
 * A spoke followed by a cursor is listed in full once a day (design B9; the spoke option
 * `fullListingHours`, 24 by default): what its change feed never reported — an item left out of a
 * listing that claimed to be complete, an event the provider dropped — is found then. Existing links
 * match by remote id, so the full listing duplicates nothing, and items it does not show pass the
 * same verification and gates as any other deletion.
 */
export const HOUR_MS = 3_600_000;

/**
 * Whether a spoke's daily full listing is due. Each spoke waits between 90 % and 100 % of the
 * interval, by a share fixed by its id, so that spokes added together (a tenant's mailboxes) are
 * not all listed in full by the same run (sync-design.md B9: "schedule full syncs with jitter").
 * A spoke without a cursor is listed in full every time anyway; one whose last full listing is not
 * known (a store older than migration 0007) waits a whole interval from its next run.
 */
export function fullListingDue(spoke: { id: string; cursor: string | null; listedAt: number | null }, now: number, everyMs: number): boolean {
  if (spoke.cursor === null || spoke.listedAt === null) return false;
  return now - spoke.listedAt >= everyMs * (0.9 + 0.1 * shareOf(spoke.id));
}

/** A number in [0, 1) from a string (FNV-1a): stable across runs and processes. */
function shareOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 2 ** 32;
}

/** Rows written at once from which a run counts as writing in bulk (a first sync's pages, a large push). */
export const BULK_ROWS = 200;

export function jsonOf<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Splits a list into chunks (SQL parameter limits, memory bounds). */
export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/**
 * Runs a `… where x in (…)` query on the distinct ids, 500 at a time (SQL parameter limits), and
 * hands each row to `each` as its part arrives, so only one part's rows are held at once.
 */
export async function eachRowOf<R>(ids: readonly string[], select: (part: string[]) => Promise<R[]>, each: (row: R) => void): Promise<void> {
  for (const part of chunks([...new Set(ids)], 500)) {
    if (part.length === 0) continue;
    for (const r of await select(part)) each(r);
  }
}
