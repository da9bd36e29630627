/**
 * The linked ids a listing has shown, kept as 64-bit fingerprints: 8 bytes an id in typed arrays
 * (16 at the table's worst load), where a `Set<string>` of 100,000 file names costs ≈6 MB of
 * old-generation strings. At the end of a complete listing, the links whose id it does not hold are
 * the deletion candidates.
 *
 * A fingerprint is not the id: two ids with the same 64 bits would make an unlisted link look
 * listed. That errs on the safe side (a deletion is not inferred, never one invented), and the odds
 * are about n²/2⁶⁵: one in 3·10⁹ for a listing of 100,000 items.
 */
export class ListedIds {
  /** Open addressing over (hi, lo) pairs; (0, 0) marks an empty slot. */
  private hi: Uint32Array;
  private lo: Uint32Array;
  private count = 0;

  /** `expected`: how many ids the listing will likely show, so the table need not grow. */
  constructor(expected = 0) {
    const slots = slotsFor(expected);
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
  }

  /**
   * A table for one pull, from the tables earlier pulls gave back. The table of a 100,000-item
   * listing is 2 MB held outside V8's heap (4 MB allocated while it grows), which only a full
   * collection frees: a run pulling three such spokes kept them all, and an incremental sync's peak
   * memory grew with the hub's size by that much. Spokes are pulled one after another, so a run
   * reuses one table; the pool keeps at most `POOLED` of them (several hubs can sync at once in the
   * web app), each as large as the largest listing it served.
   */
  static borrow(expected = 0): ListedIds {
    const t = pool.pop();
    if (t === undefined) return new ListedIds(expected);
    t.reset(expected);
    return t;
  }

  /** Gives the table back for another pull; it must not be used after this. */
  release(): void {
    if (pool.length < POOLED && !pool.includes(this)) pool.push(this);
  }

  private reset(expected: number): void {
    const slots = slotsFor(expected);
    if (this.hi.length < slots) {
      this.hi = new Uint32Array(slots);
      this.lo = new Uint32Array(slots);
    } else {
      this.hi.fill(0);
      this.lo.fill(0);
    }
    this.count = 0;
  }

  /** Distinct ids added. */
  get size(): number {
    return this.count;
  }

  /** Adds `id`; true when it was not there yet. */
  add(id: string): boolean {
    fingerprint(id);
    if (this.count * 2 >= this.hi.length) this.grow();
    if (!this.insert(fpHi, fpLo)) return false;
    this.count += 1;
    return true;
  }

  has(id: string): boolean {
    fingerprint(id);
    const h = fpHi;
    const l = fpLo;
    const mask = this.hi.length - 1;
    for (let slot = l & mask; ; slot = (slot + 1) & mask) {
      const sh = this.hi[slot] as number;
      const sl = this.lo[slot] as number;
      if (sh === 0 && sl === 0) return false;
      if (sh === h && sl === l) return true;
    }
  }

  /** Puts (h, l) in its slot; false when it was already there. */
  private insert(h: number, l: number): boolean {
    const mask = this.hi.length - 1;
    for (let slot = l & mask; ; slot = (slot + 1) & mask) {
      const sh = this.hi[slot] as number;
      const sl = this.lo[slot] as number;
      if (sh === 0 && sl === 0) {
        this.hi[slot] = h;
        this.lo[slot] = l;
        return true;
      }
      if (sh === h && sl === l) return false;
    }
  }

  private grow(): void {
    const { hi, lo } = this;
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(lo.length * 2);
    for (let k = 0; k < hi.length; k++) {
      const h = hi[k] as number;
      const l = lo[k] as number;
      if (h !== 0 || l !== 0) this.insert(h, l);
    }
  }
}

const POOLED = 2;
const pool: ListedIds[] = [];

/** A power of two at least twice `expected` (the table is kept at most half full), 1,024 at least. */
function slotsFor(expected: number): number {
  let slots = 1024;
  while (slots < expected * 2 + 2) slots *= 2;
  return slots;
}

// The last fingerprint computed (two numbers, not an array allocated per id).
let fpHi = 0;
let fpLo = 0;

/**
 * Two independent 32-bit lanes over the id's UTF-16 code units, each multiplied by its own odd
 * constant and finished with a murmur3-style avalanche, so nearby ids (`a1.vcf`, `a2.vcf`) land
 * far apart in both. Never (0, 0), the empty slot.
 */
function fingerprint(id: string): void {
  let a = 0x9e3779b9 ^ id.length;
  let b = 0x85ebca6b ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  a ^= a >>> 16;
  b = Math.imul(b ^ (b >>> 16), 0x7feb352d);
  b = Math.imul(b ^ (b >>> 15), 0x846ca68b);
  b ^= b >>> 16;
  fpHi = a >>> 0;
  fpLo = b >>> 0;
  if (fpHi === 0 && fpLo === 0) fpLo = 1;
}
