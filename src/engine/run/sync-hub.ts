/**
 * One sync run of a hub: every (selected) spoke's changes come into the hub first, then the hub's
 * changes go out to every spoke, so a change made anywhere reaches everywhere in one run. The run
 * holds the hub's lease from start to end; each spoke fails alone, and the others go on.
 */
import type { Kysely } from 'kysely';
import type { Connector, ConnectorEnv, ConnectorFactory } from '../../connectors/kit/contract.js';
import { isConnectorError } from '../../connectors/kit/errors.js';
import { getHub, listSpokes, spokeOnAddressBook, updateSpokeStatus, type Spoke } from '../../store/hubs.js';
import { acquireLease, LEASE_TTL_MS, releaseLease, renewLease } from '../../store/lease.js';
import type { Schema } from '../../store/schema.js';
import { HubClock } from '../hlc.js';
import type { IdGen } from '../ids.js';
import { writePolicy } from '../plan/options.js';
import type { Db, ProgressEvent, RunContext } from './context.js';
import { DryRunRollback, pretendWrites } from './dry-run.js';
import { pullInbound } from './inbound.js';
import { recoverIntents } from './intents.js';
import { pushOutbound } from './outbound.js';
import { PlanGuard } from './plan-guard.js';
import { newSpokeReport, totalsOf, type RunSummary, type SpokeReport } from './report.js';
import type { SpokeRuntime } from './spoke-runtime.js';

export interface EngineDeps {
  db: Kysely<Schema>;
  factories: ReadonlyMap<string, ConnectorFactory>;
  now: () => number;
  ids: IdGen;
  /** Who holds the lease: host, pid and a random part. */
  holder: string;
  /**
   * What a spoke's connector needs beyond its settings: the credentials of its account, an HTTP
   * transport. Built by the app (which owns the account store), never by the engine.
   */
  prepareEnv?: (spoke: Spoke) => Promise<Partial<ConnectorEnv>>;
  onProgress?: (ev: ProgressEvent) => void;
  /** The store's bulk-write hint (`Store.bulkWrites`): on when a run starts writing many rows, off at its end. */
  bulkWrites?: (on: boolean) => void;
  /** How often a spoke followed by a cursor is listed in full anyway (default once a day, context.ts). */
  fullListingEveryMs?: number;
}

export interface SyncRequest {
  hub: string;
  /** Only these spokes (by name); all when empty. */
  spokes?: readonly string[];
  dryRun?: boolean;
}

export class SpokeSelectionError extends Error {}

/**
 * How many spokes are pushed to at once. Pushes wait on the network (a Graph mailbox takes 4
 * requests at a time, a Google account one batch), so pushing to several spokes at once is what
 * makes a hub of many mailboxes fast. Each push holds one chunk of writes (outbound.ts), so eight
 * at once stay small. A push can change the hub (a refused conditional write
 * re-reads the item and merges it); plan-guard.ts keeps the other pushes' deletes from acting on
 * a plan made before such a change.
 */
const PARALLEL_PUSHES = 8;

export async function syncHub(deps: EngineDeps, req: SyncRequest): Promise<RunSummary> {
  const hub = await getHub(deps.db, req.hub);
  const all = await listSpokes(deps.db, hub.id);
  const wanted = req.spokes && req.spokes.length > 0 ? new Set(req.spokes) : null;
  if (wanted) {
    for (const name of wanted) {
      if (!all.some((s) => s.name === name)) throw new SpokeSelectionError(`Hub "${hub.name}" has no spoke named "${name}".`);
    }
  }
  const spokes = wanted ? all.filter((s) => wanted.has(s.name)) : all;
  const startedAt = deps.now();
  const runId = deps.ids();
  const dryRun = req.dryRun ?? false;

  await acquireLease(deps.db, { hubId: hub.id, hubName: hub.name, holder: deps.holder, now: startedAt });
  let bulk = false;
  let lastRenew = startedAt;
  const renewWith = (db: Db) => async () => {
    const now = deps.now();
    if (now - lastRenew < LEASE_TTL_MS / 3) return;
    lastRenew = now;
    if (!(await renewLease(db, { hubId: hub.id, holder: deps.holder, now }))) {
      throw new Error(`Hub "${hub.name}": the run lost its lease (another process took over); stopping.`);
    }
  };

  try {
    const body = async (db: Db, inTx: boolean, envs?: ReadonlyMap<string, Partial<ConnectorEnv> | Error>): Promise<RunSummary> => {
      const clockRow = await db.selectFrom('hubs').select('clock').where('id', '=', hub.id).executeTakeFirstOrThrow();
      // The stored clock is written at the end of a run; a run that died after committing changes
      // left contacts with newer versions. The clock must not start below them, or this run's push
      // window (pushed_clock, clock] would end before those contacts and skip them.
      const newest = await db
        .selectFrom('entities')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('hub_id', '=', hub.id)
        .executeTakeFirst();
      const clock = new HubClock(deps.now, Math.max(clockRow.clock, Number(newest?.v ?? 0)));
      const ctx: RunContext = {
        db,
        tx: inTx ? (fn) => fn(db) : (fn) => (db as Kysely<Schema>).transaction().execute(fn),
        clock,
        ids: deps.ids,
        hubId: hub.id,
        runId,
        dryRun,
        progress: deps.onProgress ?? (() => undefined),
        guard: new PlanGuard(),
        ...(deps.fullListingEveryMs === undefined ? {} : { fullListingEveryMs: deps.fullListingEveryMs }),
        bulk: () => {
          if (bulk) return;
          bulk = true;
          deps.bulkWrites?.(true);
        },
      };
      await db
        .insertInto('runs')
        .values({ id: runId, hub_id: hub.id, kind: dryRun ? 'dry-run' : 'sync', started_at: startedAt, finished_at: null, status: 'running', summary: '{}', undone_by: null })
        .execute();
      const summary = await runSpokes(ctx, deps, spokes, renewWith(db), envs);
      const finishedAt = deps.now();
      const result: RunSummary = {
        runId,
        hub: hub.name,
        kind: dryRun ? 'dry-run' : 'sync',
        status: summary.every((s) => s.status === 'ok') ? 'ok' : summary.some((s) => s.status === 'ok') ? 'partial' : 'failed',
        startedAt,
        finishedAt,
        spokes: summary,
        totals: totalsOf(summary),
      };
      await db
        .updateTable('runs')
        .set({ finished_at: finishedAt, status: result.status, summary: JSON.stringify(result) })
        .where('id', '=', runId)
        .execute();
      await db.updateTable('hubs').set({ clock: clock.current }).where('id', '=', hub.id).execute();
      for (const s of summary) {
        const linked = await db
          .selectFrom('links')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('spoke_id', '=', s.spokeId)
          .executeTakeFirst();
        await updateSpokeStatus(db, s.spokeId, {
          lastRunId: runId,
          lastSyncAt: finishedAt,
          state: s.status,
          ...(s.status === 'ok' ? { lastOkAt: finishedAt, lastError: '' } : { lastError: s.error ?? '' }),
          linked: Number(linked?.n ?? 0),
        });
      }
      return result;
    };

    if (!dryRun) return await body(deps.db, false);
    // A dry run holds one transaction for its whole length — on SQLite, the store's only
    // connection. Credentials come from the store (and a token refresh writes to it), so they are
    // resolved before the transaction starts and frozen for the dry run: a refresh in the middle
    // would wait for a connection the dry run itself holds.
    const envs = new Map<string, Partial<ConnectorEnv> | Error>();
    for (const spoke of spokes) envs.set(spoke.id, await frozenEnv(deps, spoke));
    let captured: RunSummary | undefined;
    try {
      await deps.db.transaction().execute(async (trx) => {
        captured = await body(trx, true, envs);
        throw new DryRunRollback();
      });
    } catch (e) {
      if (!(e instanceof DryRunRollback)) throw e;
    }
    return captured as RunSummary;
  } finally {
    if (bulk) deps.bulkWrites?.(false);
    await releaseLease(deps.db, { hubId: hub.id, holder: deps.holder });
  }
}

/** A spoke's environment with its access token fetched now and fixed (see the dry run above). */
async function frozenEnv(deps: EngineDeps, spoke: Spoke): Promise<Partial<ConnectorEnv> | Error> {
  if (!deps.prepareEnv) return {};
  try {
    const env = await deps.prepareEnv(spoke);
    const auth = env.auth;
    if (!auth?.accessToken) return env;
    const token = await auth.accessToken();
    return { ...env, auth: { ...auth, accessToken: async () => token, invalidateAccessToken: () => undefined } };
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

async function runSpokes(
  ctx: RunContext,
  deps: EngineDeps,
  spokes: Spoke[],
  renew: () => Promise<void>,
  envs: ReadonlyMap<string, Partial<ConnectorEnv> | Error> | undefined,
): Promise<SpokeReport[]> {
  const runtimes: SpokeRuntime[] = [];
  const reports: SpokeReport[] = [];
  for (const spoke of spokes) {
    const report = newSpokeReport(spoke);
    reports.push(report);
    let conn: Connector | undefined;
    try {
      const factory = deps.factories.get(spoke.type);
      if (!factory) throw new Error(`unknown spoke type "${spoke.type}" (this installation knows ${[...deps.factories.keys()].join(', ')})`);
      const config = factory.parseConfig(spoke.config);
      const prepared = envs?.get(spoke.id);
      if (prepared instanceof Error) throw prepared;
      const extra = prepared ?? (deps.prepareEnv ? await deps.prepareEnv(spoke) : {});
      const real = factory.create(config, { ...extra, now: deps.now, defaultRegion: spoke.options.defaultRegion });
      conn = ctx.dryRun ? pretendWrites(real) : real;
      const caps = conn.capabilities;
      const rt: SpokeRuntime = {
        spoke,
        conn,
        caps,
        policy: writePolicy(spoke.options, caps),
        paths: caps.fields,
        region: spoke.options.defaultRegion,
        report,
        ghosts: [],
        moves: [],
      };
      const identity = await conn.identity();
      if (spoke.identity !== null && spoke.identity !== identity) {
        throw new Error(
          `it now points at another address book (${identity}, was ${spoke.identity}); nothing was synced. ` +
            'If that is intended, remove the spoke and add it again.',
        );
      }
      // Two spokes of one hub on the same address book (one folder added twice, one CardDAV book by
      // two URLs) would each be written every change, and each be told the other's writes. The one
      // added later stops; the first goes on syncing.
      const twin = await spokeOnAddressBook(ctx.db, ctx.hubId, identity, spoke);
      if (twin) throw new Error(`it is the same address book as spoke "${twin.name}" (${identity}); nothing was synced. Remove one of the two.`);
      if (spoke.identity === null) {
        await ctx.tx((db) => db.updateTable('spokes').set({ identity }).where('id', '=', spoke.id).execute());
      }
      await recoverIntents(ctx, rt);
      await pullInbound(ctx, rt, renew);
      runtimes.push(rt);
    } catch (e) {
      failSpoke(report, e);
      await conn?.close?.();
    }
  }
  // Pulls run spoke by spoke, in a fixed order, which keeps first syncs deterministic; pushes start
  // in that order, up to PARALLEL_PUSHES at a time.
  let next = 0;
  const pushWorker = async (): Promise<void> => {
    while (next < runtimes.length) {
      const rt = runtimes[next++] as SpokeRuntime;
      try {
        await pushOutbound(ctx, rt, renew);
      } catch (e) {
        failSpoke(rt.report, e);
      } finally {
        await rt.conn.close?.();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_PUSHES, runtimes.length) }, pushWorker));
  return reports;
}

function failSpoke(report: SpokeReport, e: unknown): void {
  if (isConnectorError(e, 'auth_revoked')) {
    report.status = 'needs-sign-in';
    report.error = `needs sign-in again: ${e.message}`;
    return;
  }
  report.status = 'error';
  report.error = e instanceof Error ? e.message : String(e);
}
