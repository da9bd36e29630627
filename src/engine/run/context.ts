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
  /** How often a spoke followed by a cursor is listed in full anyway (default `FULL_LISTING_EVERY_MS`). */
  fullListingEveryMs?: number;
}

/**
 * A spoke followed by a cursor is listed in full once a day (design B9): what its change feed never
 * reported — an item left out of a listing that claimed to be complete, an event the provider
 * dropped — is found then. Existing links match by remote id, so the full listing duplicates
 * nothing, and items it does not show pass the same verification and gates as any other deletion.
 */
export const FULL_LISTING_EVERY_MS = 24 * 3_600_000;

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
