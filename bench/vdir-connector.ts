/**
 * The vdir connector alone, without the engine or the hub store: how much CPU and wall time it
 * spends per file created, updated and read. The sync benchmark (`npm run bench`) says how long a
 * whole sync takes; this one says how much of it is the connector, and is quick enough (3–5 min
 * at the defaults on the 2-CPU dev box) to run before and after a change to `src/connectors/vdir/`.
 *
 *   npx tsx bench/vdir-connector.ts [--n 20000] [--runs 3] [--tmp DIR]
 *
 * Each run works on a fresh folder and measures, in order:
 * - create: N `create` calls, 64 in flight (the spoke's `maxConcurrency`, as the engine's push
 *   sends them), cards built as the engine builds them (`fieldsToCard` of the sample people);
 * - read: one full `pull` that knows no etag, so every file is stat'ed, read and parsed;
 * - no-op read: one `pull` that knows every etag (a stat per file, nothing read);
 * - update: N `update` calls, 64 in flight, each changing the note (read, merge, atomic replace).
 * Figures are medians over the runs (CPU = user + system of this process, so a libuv thread's
 * work counts too). Every run checks its results (N files, etags that match what a pull sees).
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Connector, PullPage } from '../src/connectors/kit/contract.js';
import { vdirConnectorFactory } from '../src/connectors/vdir/vdir-connector.js';
import { sampleContact, sampleVcard } from '../src/demo/sample-contacts.js';
import type { Card } from '../src/model/card.js';
import { cardToFields, fieldsToCard } from '../src/model/card-fields.js';
import { parseVCard } from '../src/model/vcard.js';
import { knownEtagsFrom } from '../src/connectors/kit/known-etags.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    tmp: { type: 'string' },
    concurrency: { type: 'string' },
  },
});
const N = Number(args.n);
const RUNS = Number(args.runs);
const REGION = 'FR';
const CONCURRENCY = Number(args.concurrency ?? vdirConnectorFactory.capabilities.maxConcurrency ?? 1);

type Phase = 'create' | 'read' | 'no-op read' | 'update';
const PHASES: readonly Phase[] = ['create', 'read', 'no-op read', 'update'];
interface Sample {
  cpuMs: number;
  /** The system part of cpuMs (the kernel's file-system work, fsync above all). */
  sysMs: number;
  wallMs: number;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

async function measure<T>(fn: () => Promise<T>): Promise<{ sample: Sample; result: T }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { sample: { cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000, wallMs }, result };
}

async function pullAll(conn: Connector, knownEtag: (id: string) => string | undefined): Promise<PullPage[]> {
  const pages: PullPage[] = [];
  for await (const page of conn.pull({ cursor: null, knownEtags: knownEtagsFrom(knownEtag) })) pages.push(page);
  return pages;
}

/** The cards the engine would send: sample people, parsed and projected like an inbound item. */
function makeCards(n: number): Card[] {
  return Array.from({ length: n }, (_, i) => {
    const parsed = parseVCard(sampleVcard(sampleContact(42, i)), { defaultRegion: REGION });
    return fieldsToCard(cardToFields(parsed.card, { defaultRegion: REGION }), parsed.card.uid ?? `u${i}`);
  });
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function oneRun(root: string, run: number, cards: readonly Card[]): Promise<Record<Phase, Sample>> {
  const dir = path.join(root, `run-${run}`);
  await fsp.mkdir(dir);
  const conn = vdirConnectorFactory.create(vdirConnectorFactory.parseConfig({ path: dir }), {
    now: () => Date.now(),
    defaultRegion: REGION,
  });
  const out = {} as Record<Phase, Sample>;
  try {
    const markers = cards.map((_, i) => `e${String(i).padStart(7, '0')}`);
    const created = await measure(() =>
      mapLimit(cards.map((c, i) => [c, markers[i] as string] as const), CONCURRENCY, ([c, marker]) => conn.create(c, { marker })),
    );
    out.create = created.sample;
    const etags = new Map(created.result.map((r) => [r.id, r.etag ?? '']));
    // A create echoes its item only when the file cannot hold the card exactly (vcardHolds); the
    // pull below checks that each file is what its create answered.
    check(created.result.every((r, i) => r.id === `${markers[i]}.vcf` && r.etag !== null), 'every create answers its file name and etag');

    const read = await measure(() => pullAll(conn, () => undefined));
    out.read = read.sample;
    const items = read.result.flatMap((p) => p.items);
    check(items.length === N, `the full pull lists ${N} items (got ${items.length})`);
    check(items.every((it) => etags.get(it.id) === it.etag), 'the etags of the creates are those the pull sees');

    const noop = await measure(() => pullAll(conn, (id) => etags.get(id)));
    out['no-op read'] = noop.sample;
    const unchanged = noop.result.reduce((s, p) => s + p.unchanged.length, 0);
    check(unchanged === N, `the no-op pull lists ${N} unchanged ids (got ${unchanged})`);

    const updated = await measure(() =>
      mapLimit(items, CONCURRENCY, (it) =>
        conn.update(it.id, { ...it.card, notes: { n1: { note: `Edited in run ${run}` } } }, { ifMatch: it.etag, changed: ['note'] }),
      ),
    );
    out.update = updated.sample;
    check(updated.result.every((r, i) => r.etag !== items[i]?.etag), 'every update changed its file');
    const after = (await pullAll(conn, () => undefined)).flatMap((p) => p.items);
    const newEtags = new Map(updated.result.map((r) => [r.id, r.etag]));
    check(after.length === N && after.every((it) => newEtags.get(it.id) === it.etag), 'the update etags are those the pull sees');
    check(after.every((it) => Object.values(it.card.notes ?? {}).some((n) => n.note === `Edited in run ${run}`)), 'every note was written');
  } finally {
    await conn.close?.();
    await fsp.rm(dir, { recursive: true, force: true });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const root = await fsp.mkdtemp(path.join(args.tmp ?? os.tmpdir(), 'hubsync-vdir-bench-'));
  const cards = makeCards(N);
  const load: number[][] = [];
  const samples: Record<Phase, Sample>[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      load.push(os.loadavg());
      samples.push(await oneRun(root, r, cards));
      process.stderr.write(`run ${r + 1}/${RUNS} done\n`);
    }
    load.push(os.loadavg());
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
  const fmt = (x: number) => x.toFixed(1);
  console.log(`vdir connector alone: N = ${N}, ${CONCURRENCY} calls in flight, median of ${RUNS} runs, Node ${process.version}, ${os.cpus().length} CPUs`);
  console.log(`load average (1 min) at the start of each run and at the end: ${load.map((l) => (l[0] ?? 0).toFixed(2)).join(', ')}`);
  console.log('| phase | CPU s | of which system | wall s | CPU µs per file | wall µs per file | CPU s, each run |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const ph of PHASES) {
    const cpu = median(samples.map((s) => s[ph].cpuMs));
    const sys = median(samples.map((s) => s[ph].sysMs));
    const wall = median(samples.map((s) => s[ph].wallMs));
    const each = samples.map((s) => (s[ph].cpuMs / 1000).toFixed(2)).join(', ');
    console.log(`| ${ph} | ${fmt(cpu / 1000)} | ${fmt(sys / 1000)} | ${fmt(wall / 1000)} | ${fmt((cpu * 1000) / N)} | ${fmt((wall * 1000) / N)} | ${each} |`);
  }
}

await main();
