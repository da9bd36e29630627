/**
 * Mass-delete gates (sync-design.md §B6). A deletion that spreads by mistake — a wiped account, a
 * wrong folder, a bug — is the worst thing a sync tool can do, so large deletions wait for a person.
 */

/** More deletions than this, in one run on one spoke, are held until confirmed: max(10, 20%). */
export function deleteBudget(linked: number): number {
  return Math.max(10, Math.floor(linked * 0.2));
}

export type GateVerdict = { hold: false } | { hold: true; reason: 'spoke-empty' | 'mass-delete' };

/**
 * Deletions coming from a spoke. A spoke that had contacts and now lists none deletes nothing
 * (vdirsyncer's "storage empty" abort): that is far more often an emptied token scope, a wrong
 * folder or an unmounted disk than a person deleting everything.
 */
export function inboundGate(p: { deletes: number; linked: number; listedNone: boolean }): GateVerdict {
  if (p.deletes === 0) return { hold: false };
  if (p.listedNone && p.linked > 0) return { hold: true, reason: 'spoke-empty' };
  if (p.deletes > deleteBudget(p.linked)) return { hold: true, reason: 'mass-delete' };
  return { hold: false };
}

/** Deletions the hub would send to a spoke (a hub-side mistake must not fan out to every spoke). */
export function outboundGate(p: { deletes: number; linked: number }): GateVerdict {
  if (p.deletes > deleteBudget(p.linked)) return { hold: true, reason: 'mass-delete' };
  return { hold: false };
}
