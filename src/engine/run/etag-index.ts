/**
 * The etags the hub holds for one spoke's links, kept while that spoke is pulled: the listing asks
 * it which items it can skip (`knownEtag`), and what the listing never showed is, at the end, the
 * list of deletion candidates.
 *
 * It is packed, because a pull of a large spoke keeps it for the whole listing: the ids of each
 * page of rows in one string and their etags in another, offsets in typed arrays, and an
 * open-addressing hash table of positions (FNV-1a over the id's UTF-16 code units). For 100,000
 * vdir links that is ≈8 MB in a few dozen objects, where a `Map<string, string>` took 12.8 MB in 200,000 small
 * strings and entries; V8 promotes those to its old generation during the listing and keeps them
 * there after the pull, so each spoke's map stayed in the heap next to the next spoke's until a
 * full collection. (A binary search over sorted ids saved the table but made a 100,000 no-op
 * 0.5 s slower: two lookups per listed file.)
 */
export class EtagIndex {
  /** Entries the listing has shown (by position). */
  private readonly listed: Uint8Array;
  private listedCount = 0;
  /** Open addressing: position + 1 of the entry in each slot, 0 for an empty slot. */
  private readonly slots: Uint32Array;
  private readonly mask: number;

  /** @internal Built by `EtagIndexBuilder`. */
  constructor(private readonly p: Packed) {
    const n = p.size;
    this.listed = new Uint8Array(n);
    // At most half full, so a probe sequence stays short.
    let size = 8;
    while (size < n * 2) size *= 2;
    this.slots = new Uint32Array(size);
    this.mask = size - 1;
    for (let k = 0; k < n; k++) {
      const chunk = p.idChunks[p.chunkOf[k] as number] as string;
      let slot = hashRange(chunk, this.idStart(k), p.idEnds[k] as number) & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = k + 1;
    }
  }

  /** Builds the index from (id, etag) pairs; ids must be distinct. */
  static build(entries: Iterable<readonly [string, string | null]>): EtagIndex {
    const b = new EtagIndexBuilder();
    b.addPage([...entries]);
    return b.finish();
  }

  /** Links in the index. */
  get size(): number {
    return this.p.size;
  }

  /**
   * The etag the hub holds for `id` (null when it has none), or undefined when the spoke has no
   * link with that id or the listing already showed it.
   */
  knownEtag(id: string): string | null | undefined {
    const k = this.find(id);
    if (k < 0 || this.listed[k] === 1) return undefined;
    return this.etagAt(k);
  }

  /** Records that the listing showed `id` (ids the index does not hold are ignored). */
  markListed(id: string): void {
    const k = this.find(id);
    if (k >= 0 && this.listed[k] === 0) {
      this.listed[k] = 1;
      this.listedCount += 1;
    }
  }

  /** Ids of links the listing has not shown, in the order they were added. */
  unlisted(): string[] {
    const out: string[] = [];
    if (this.listedCount === this.size) return out;
    for (let k = 0; k < this.size; k++) if (this.listed[k] === 0) out.push(this.idAt(k));
    return out;
  }

  /** Every (id, etag) pair, listed or not, in the order they were added. */
  *entries(): IterableIterator<[string, string | null]> {
    for (let k = 0; k < this.size; k++) yield [this.idAt(k), this.etagAt(k)];
  }

  /** Where entry k starts in its chunk: where the previous one ended, if it is in the same chunk. */
  private idStart(k: number): number {
    return k > 0 && this.p.chunkOf[k - 1] === this.p.chunkOf[k] ? (this.p.idEnds[k - 1] as number) : 0;
  }

  private idAt(k: number): string {
    return (this.p.idChunks[this.p.chunkOf[k] as number] as string).slice(this.idStart(k), this.p.idEnds[k]);
  }

  private etagAt(k: number): string | null {
    if (this.p.noEtag[k] === 1) return null;
    const start = k > 0 && this.p.chunkOf[k - 1] === this.p.chunkOf[k] ? (this.p.etagEnds[k - 1] as number) : 0;
    return (this.p.etagChunks[this.p.chunkOf[k] as number] as string).slice(start, this.p.etagEnds[k]);
  }

  /** The position of `id`, or -1. Compares in place, without slicing the ids. */
  private find(id: string): number {
    let slot = hashRange(id, 0, id.length) & this.mask;
    for (;;) {
      const at = this.slots[slot] as number;
      if (at === 0) return -1;
      const k = at - 1;
      const start = this.idStart(k);
      if ((this.p.idEnds[k] as number) - start === id.length) {
        const chunk = this.p.idChunks[this.p.chunkOf[k] as number] as string;
        let i = 0;
        while (i < id.length && id.charCodeAt(i) === chunk.charCodeAt(start + i)) i++;
        if (i === id.length) return k;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}

/** 32-bit FNV-1a over the UTF-16 code units of s[from, to). */
function hashRange(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The packed rows: entry k's id ends at idEnds[k] in idChunks[chunkOf[k]] (etags alike). */
interface Packed {
  size: number;
  idChunks: string[];
  etagChunks: string[];
  chunkOf: Uint32Array;
  idEnds: Uint32Array;
  etagEnds: Uint32Array;
  /** 1 where the link has no etag (null, not ''). */
  noEtag: Uint8Array;
}

/** A Uint32Array that grows by doubling (a number[] of 100,000 offsets is 800 KB of old-space objects). */
class Growing {
  a = new Uint32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Uint32Array {
    return this.a.slice(0, this.n);
  }
}

/**
 * Builds an `EtagIndex` a page of rows at a time, so that the rows of a large spoke never all exist
 * as separate strings at once: each page is packed into one id string and one etag string, which
 * the index keeps as they are (joining them all would leave the pages behind as garbage).
 */
export class EtagIndexBuilder {
  private readonly idChunks: string[] = [];
  private readonly etagChunks: string[] = [];
  private readonly chunkOf = new Growing();
  private readonly idEnds = new Growing();
  private readonly etagEnds = new Growing();
  private readonly noEtag: number[] = [];

  addPage(rows: readonly (readonly [string, string | null])[]): void {
    if (rows.length === 0) return;
    const chunk = this.idChunks.length;
    // Joined into flat strings (`+=` would build a rope holding every row's strings).
    const ids = new Array<string>(rows.length);
    const etags: string[] = [];
    let idAt = 0;
    let etagAt = 0;
    rows.forEach(([id, etag], i) => {
      ids[i] = id;
      idAt += id.length;
      this.idEnds.push(idAt);
      this.chunkOf.push(chunk);
      if (etag === null) this.noEtag.push(this.chunkOf.n - 1);
      else {
        etags.push(etag);
        etagAt += etag.length;
      }
      this.etagEnds.push(etagAt);
    });
    this.idChunks.push(ids.join(''));
    this.etagChunks.push(etags.join(''));
  }

  finish(): EtagIndex {
    const noEtag = new Uint8Array(this.chunkOf.n);
    for (const k of this.noEtag) noEtag[k] = 1;
    return new EtagIndex({
      size: this.chunkOf.n,
      idChunks: this.idChunks,
      etagChunks: this.etagChunks,
      chunkOf: this.chunkOf.done(),
      idEnds: this.idEnds.done(),
      etagEnds: this.etagEnds.done(),
      noEtag,
    });
  }
}
