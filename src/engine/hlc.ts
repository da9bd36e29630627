/**
 * Merge tags: a hybrid logical clock folded into one integer, `wallMs * 1024 + counter`.
 *
 * Tags order field writes for last-writer-wins and stamp hub versions. They stay exact in a double
 * (wall times up to year 2250 × 1024 < 2^53) and sort as plain numbers in both databases.
 * Ties between equal tags are broken by origin (see `merge.ts`), which makes the order total.
 */
export const TAG_SCALE = 1024;

export function tagOfWall(wallMs: number): number {
  return Math.floor(wallMs) * TAG_SCALE;
}

export function wallOfTag(tag: number): number {
  return Math.floor(tag / TAG_SCALE);
}

export class HubClock {
  private last: number;
  private readonly now: () => number;

  constructor(now: () => number, last: number) {
    this.now = now;
    this.last = last;
  }

  /** A tag strictly greater than every tag this clock has handed out or seen. */
  tick(): number {
    this.last = Math.max(this.last + 1, tagOfWall(this.now()));
    return this.last;
  }

  /** The highest tag handed out so far (persisted with the hub). */
  get current(): number {
    return this.last;
  }

  nowMs(): number {
    return this.now();
  }

  /**
   * The tag of an edit a spoke reports at `modifiedAt`. The edit happened after the spoke's merge base
   * was observed (`lowMs`) and before now, so the reported time is clamped into that window: a spoke
   * with a skewed clock can neither win forever nor lose to values it had already seen.
   */
  editTag(modifiedAt: number | null | undefined, lowMs: number): number {
    const hi = this.now();
    const t = modifiedAt ?? hi;
    return tagOfWall(Math.min(Math.max(t, lowMs), hi));
  }
}
