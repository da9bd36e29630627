/**
 * Time-ordered ids (UUIDv7 layout, RFC 9562 §5.7): sortable by creation time, unique across
 * processes, and safe as file names (they become the vdir spoke's file names).
 */
import { randomFillSync } from 'node:crypto';

export type IdGen = () => string;

/**
 * Random bytes drawn from a buffer refilled 4 KiB at a time: a sync run makes an id for every
 * contact, journal row and intent, and one call into the CSPRNG per id was 2 % of a first sync.
 */
function pooledRandom(): (n: number) => Uint8Array {
  const pool = Buffer.alloc(4096);
  let at = pool.length;
  return (n) => {
    if (at + n > pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    const out = pool.subarray(at, at + n);
    at += n;
    return out;
  };
}

export function uuidv7Generator(now: () => number = Date.now, random: (n: number) => Uint8Array = pooledRandom()): IdGen {
  let lastMs = -1;
  let seq = 0;
  return () => {
    let ms = now();
    if (ms <= lastMs) {
      // Same millisecond (or a clock step back): keep order with a counter in the rand_a bits.
      ms = lastMs;
      seq += 1;
      if (seq > 0xfff) {
        lastMs += 1;
        ms = lastMs;
        seq = 0;
      }
    } else {
      lastMs = ms;
      seq = 0;
    }
    const b = Buffer.from(random(16));
    b.writeUIntBE(ms, 0, 6);
    b[6] = 0x70 | ((seq >> 8) & 0x0f);
    b[7] = seq & 0xff;
    b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
}
