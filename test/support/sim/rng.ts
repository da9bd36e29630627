/**
 * A small seeded PRNG for the simulation: the engine's id generator gets its "random" bytes from
 * here, so two runs of one case produce the same ids, the same store and the same hash.
 */
import { seededRandom } from '../../../src/demo/sample-contacts.js';

/** `n` pseudo-random bytes per call, from one seeded stream (mulberry32, the demo data's generator). */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}
