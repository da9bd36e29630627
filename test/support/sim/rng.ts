/**
 * A small seeded PRNG for the simulation: the engine's id generator gets its "random" bytes from
 * here, so two runs of one case produce the same ids, the same store and the same hash.
 */

/** mulberry32: 32-bit state, good enough for ids and picks in tests. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes per call, from one seeded stream. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  const next = mulberry32(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}
