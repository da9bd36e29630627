/**
 * Quiescence and the state checks made there (design C2 P2/P3/P7, C3 L1–L3), plus the always-on
 * duplicate check (S1). Each check returns human-readable violations; the tests assert none.
 */
import { currentFields } from '../../../src/engine/plan/hub-state.js';
import { decodeState } from '../../../src/engine/run/state-json.js';
import { diffFields } from '../../../src/engine/plan/merge.js';
import { hashFields, restrictFields, stableStringify, type Fields } from '../../../src/model/fields.js';
import { cardToFields, fieldsToCard } from '../../../src/model/card-fields.js';
import { REGION, serverNormalize } from './domain.js';
import type { Reference } from './reference.js';
import { SIM_FULL_LISTING_EVERY_MS, type SimSpoke, type SimWorld, type SyncResult } from './world.js';

export interface QuiesceOptions {
  /** At most this many runs (L2). */
  maxRuns: number;
  /** What a person decides about deletions held by a gate. */
  decision: 'confirm' | 'reject';
}

export interface QuiesceOutcome {
  runs: SyncResult[];
  violations: string[];
}

/**
 * Heals every fault, then syncs (moving the clock past every visibility lag before each run) until
 * two consecutive runs write nothing to any spoke and change nothing in the hub. Held deletions get
 * the scripted decision. The second quiet run is P3/I6: a sync right after a quiescent one is a no-op.
 */
export async function quiesce(world: SimWorld, ref: Reference, opts: QuiesceOptions): Promise<QuiesceOutcome> {
  world.heal();
  // "Eventually" includes the engine's periodic full listing of spokes followed by a cursor: what a
  // short listing left out of a cursor's reach is found by it (design B9).
  world.clock.advance(SIM_FULL_LISTING_EVERY_MS);
  const runs: SyncResult[] = [];
  const violations: string[] = [];
  let quiet = 0;
  while (runs.length < opts.maxRuns) {
    // Past every visibility lag: of every write made so far (a lag shortened later does not make
    // earlier writes visible sooner), and the spokes' current lags (an uncertain create is retried
    // only once a spoke's lag has passed without it showing up).
    const lag = Math.max(0, ...world.spokes.map((s) => s.backend.capabilities.visibilityLagMs));
    world.clock.advance(Math.max(lag, Math.max(...world.spokes.map((s) => s.visibleAfter)) - world.clock.now()) + 1);
    const r = await ref.around(() => world.sync());
    runs.push(r);
    for (const s of r.summary?.spokes ?? []) {
      if (s.status !== 'ok') violations.push(`L2: spoke ${s.name} failed in a fault-free run: ${s.error ?? s.status}`);
    }
    violations.push(...checkNoDuplicates(world));
    if (world.heldCount() > 0) {
      if ((await world.decideHeld(opts.decision === 'confirm')) && opts.decision === 'reject') ref.restores.push(world.clock.now());
      quiet = 0;
      continue;
    }
    const still = r.writes.every((n) => n === 0) && r.hubChanges === 0;
    quiet = still ? quiet + 1 : 0;
    if (quiet >= 2) break;
  }
  if (quiet < 2) {
    violations.push(
      `L2/P3: no quiescence within ${opts.maxRuns} runs (writes per run per spoke: ${runs.map((r) => `[${r.writes.join(',')}]+hub ${r.hubChanges}`).join(' ')})`,
    );
  }
  return { runs, violations };
}

interface EntityRow {
  id: string;
  state: string;
  deleted: number;
}

/** The hub's projection of a contact into a spoke's field space. */
export function projection(s: SimSpoke, state: string): Fields {
  return restrictFields(currentFields(decodeState(state)), s.fields);
}

/**
 * Fields as the normalising spoke's server would store them. That server rewrites what the engine
 * sends (phones in E.164, addresses in lower case) but keeps what its users type, so its items are
 * compared with the hub modulo that rewriting (design I7 "after normalization").
 */
export function serverForm(s: SimSpoke, f: Fields): Fields {
  if (s.kind !== 'norm') return f;
  return restrictFields(cardToFields(serverNormalize(fieldsToCard(f, 'x')), { defaultRegion: REGION }), s.fields);
}

function describeDiff(a: Fields, b: Fields): string {
  return diffFields(a, b)
    .map((c) => (c.kind === 'set' ? `${c.path}=${JSON.stringify(c.value)}` : `${c.kind} ${c.path}/${c.key}${'attrs' in c ? ` ${stableStringify(c.attrs)}` : ''}`))
    .join('; ');
}

/**
 * At quiescence: every two-way spoke holds exactly the hub's projection of every live contact and
 * nothing else (P2/L1); every item of every spoke is linked, once (P7), unless a run reported it as
 * a ghost it would not delete; every merge base is what the spoke holds (I2); no intent is left
 * (L3) and no deletion is still held.
 */
export function checkConverged(world: SimWorld): string[] {
  const out: string[] = [];
  const entities = new Map(world.all<EntityRow & { fields_hash: string | null }>('select id, state, deleted, fields_hash from entities').map((e) => [e.id, e]));
  for (const e of entities.values()) {
    // A push compares this stored hash with merge bases instead of hashing the contact again.
    if (e.fields_hash !== hashFields(restrictFields(currentFields(decodeState(e.state)), 'all'))) out.push(`H1: the stored fields hash of contact ${e.id} is not the hash of its fields`);
  }
  for (const s of world.spokes) {
    const links = world.linksOf(s);
    const items = s.backend.list();
    const present = new Set(items.map((i) => i.id));
    const linkedEntities = new Set<string>();
    for (const item of items) {
      const l = links.get(item.id);
      if (!l) {
        if (!world.reported.has(`${s.id} ${item.id}`)) out.push(`P7: ${s.name}/${item.id} (marker ${item.marker ?? '-'}) is linked to no hub contact`);
        continue;
      }
      linkedEntities.add(l.entity);
      const e = entities.get(l.entity);
      if (!e) {
        out.push(`P7: ${s.name}/${item.id} is linked to a contact ${l.entity} the hub does not have`);
        continue;
      }
      if (l.state !== 'active') out.push(`L1: link ${s.name}/${item.id} is still ${l.state}`);
      const held = world.itemFields(s, item.card);
      if (hashFields(held) !== l.baseHash) out.push(`I2: the merge base of ${s.name}/${item.id} is not what the spoke holds`);
      if (!s.twoWay) continue;
      if (e.deleted === 1) {
        out.push(`L1: ${s.name}/${item.id} still holds contact ${e.id}, which the hub deleted`);
        continue;
      }
      const want = serverForm(s, projection(s, e.state));
      if (hashFields(want) !== hashFields(serverForm(s, held))) out.push(`L1/P2: ${s.name}/${item.id} differs from the hub's contact ${e.id}: ${describeDiff(want, held)}`);
    }
    const byMarker = new Map<string, string[]>();
    for (const item of items) if (item.marker) byMarker.set(item.marker, [...(byMarker.get(item.marker) ?? []), item.id]);
    for (const [marker, ids] of byMarker) {
      const unexplained = ids.filter((id) => !world.reported.has(`${s.id} ${id}`));
      if (ids.length > 1 && unexplained.length > 1) out.push(`P7: ${s.name} holds ${ids.length} items with marker ${marker}: ${ids.join(', ')}`);
    }
    for (const [remoteId, l] of links) if (!present.has(remoteId)) out.push(`L1: link ${s.name}/${remoteId} → ${l.entity} points at an item the spoke does not have`);
    if (s.twoWay) {
      for (const e of entities.values()) {
        if (e.deleted === 0 && !linkedEntities.has(e.id)) out.push(`L1/P2: ${s.name} lacks the hub's live contact ${e.id}`);
      }
    }
  }
  for (const it of world.all<{ spoke_id: string; entity_id: string; op: string; state: string }>('select spoke_id, entity_id, op, state from intents')) {
    const s = world.spokes.find((x) => x.id === it.spoke_id);
    // On a spoke the hub may not write, a "look at it again" intent (a rejected held deletion asks
    // for the contact to be offered again) waits until writes are allowed; it is not stuck.
    if (s && !s.twoWay && it.state === 'failed') continue;
    out.push(`L3: intent ${it.op}/${it.state} for contact ${it.entity_id} on ${s?.name ?? it.spoke_id} is still open`);
  }
  const held = world.heldCount();
  if (held > 0) out.push(`L1: ${held} deletions are still held`);
  return out;
}

/**
 * S1, always on: per spoke, at most one item per marker — a second one (a ghost of a create whose
 * response was lost) is tolerated only while the hub still has an open intent for that contact
 * there, while findByMarker may lag, or once a run reported it.
 */
export function checkNoDuplicates(world: SimWorld): string[] {
  const out: string[] = [];
  for (const s of world.spokes) {
    const byMarker = new Map<string, string[]>();
    for (const item of s.backend.list()) if (item.marker) byMarker.set(item.marker, [...(byMarker.get(item.marker) ?? []), item.id]);
    for (const [marker, ids] of byMarker) {
      if (ids.length < 2) continue;
      const open = world.one('select 1 from intents where spoke_id = ? and entity_id = ?', s.id, marker);
      const unexplained = ids.filter((id) => !world.reported.has(`${s.id} ${id}`));
      if (!open && !s.laggyFind && unexplained.length > 1) out.push(`S1: ${s.name} holds ${ids.length} items with marker ${marker} (${ids.join(', ')}) and no create is pending`);
    }
  }
  return out;
}

/** I4 at first link: every value an item held before the first sync is in the hub or in the log. */
export function checkFirstLinkKept(world: SimWorld, initial: readonly { spoke: SimSpoke; item: string; fields: Fields }[]): string[] {
  const out: string[] = [];
  const conflicts = world.all<{ entity_id: string; path: string; lost: string }>('select entity_id, path, lost from conflicts');
  for (const { spoke, item, fields } of initial) {
    const entity = world.entityOfItem(spoke, item);
    if (entity === null) {
      out.push(`P7: initial item ${spoke.name}/${item} is linked to no hub contact after the first sync`);
      continue;
    }
    const e = world.one<EntityRow>('select id, state, deleted from entities where id = ?', entity);
    if (!e) continue;
    const hub = currentFields(decodeState(e.state));
    for (const [path, v] of Object.entries(fields.s)) {
      const have = (hub.s as Record<string, string | undefined>)[path];
      if (have === v) continue;
      if (conflicts.some((c) => c.entity_id === entity && c.path === path && c.lost === JSON.stringify(v))) continue;
      out.push(`I4 first link: ${spoke.name}/${item} had ${path}=${JSON.stringify(v)}; contact ${entity} has ${JSON.stringify(have ?? null)} and the log does not have it`);
    }
    for (const [path, els] of Object.entries(fields.m)) {
      for (const key of Object.keys(els ?? {})) {
        if (!(key in ((hub.m as Record<string, Record<string, unknown> | undefined>)[path] ?? {}))) {
          out.push(`I4 first link: ${spoke.name}/${item} had ${path} ${key}; contact ${entity} lacks it`);
        }
      }
    }
  }
  return out;
}
