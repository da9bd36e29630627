/**
 * Google Contacts benchmark (`npm run bench -- --only google`, also part of `npm run bench`): two
 * Google accounts of N contacts each (half of them the same people) on the Google emulator, synced
 * through one hub with the CLI. Counts People API requests by endpoint (the emulator counts them)
 * against the lower bound that page sizes and batch limits allow, and checks that a no-op re-sync
 * costs one request per spoke.
 *
 *   npm run bench -- --only google      # N = 2,000; rewrites the Google section of docs/benchmarks.md
 *   npm run bench:google [-- --n 500]   # the same through tsx; another size is printed only
 *   --no-write                          # print only; --report-only: render the docs from bench/results/google.json
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { googleEnv, sampleSeed, startGoogle } from '../../src/emulators/google/index.js';
import { replaceGenerated, repoRoot } from '../common.js';
import { cli } from '../in-process-cli.js';

const BEGIN = '<!-- BEGIN GENERATED: google (npm run bench -- --only google) -->';
const END = '<!-- END GENERATED: google -->';
const ROOT = repoRoot(import.meta.dirname);
const RESULTS = path.join(ROOT, 'bench', 'results', 'google.json');
const A = 'ann@bench.example';
const B = 'ben@bench.example';

interface Round {
  ms: number;
  byRoute: Record<string, number>;
  calls: number;
  totals: unknown;
}

async function run(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--report-only')) {
    await writeDocs(JSON.parse(await readFile(RESULTS, 'utf8')) as Parameters<typeof writeDocs>[0]);
    process.stdout.write(`docs/benchmarks.md: Google section rendered again from ${path.relative(process.cwd(), RESULTS)}\n`);
    return;
  }
  const write = !argv.includes('--no-write');
  const nArg = argv.indexOf('--n');
  const n = nArg >= 0 ? Number(argv[nArg + 1]) : 2000;
  const shared = Math.floor(n / 2);
  const seed = sampleSeed({ emails: [A, B], perUser: n, shared });
  const emu = await startGoogle({ seed });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'hubsync-bench-google-'));
  const data = path.join(tmp, 'data');
  for (const [k, v] of Object.entries({ ...googleEnv(emu.url), HUBSYNC_GOOGLE_CLIENT_ID: 'bench-client' })) process.env[k] = v;
  try {
    await cli(data, 'hub', 'create', 'bench', '--object', 'contacts');
    for (const [name, email] of [['ann', A], ['ben', B]] as const) {
      await cli(data, 'account', 'add', 'google', '--email', email, '--refresh-token', emu.state.mintRefreshToken(email, 'bench-client'));
      await cli(data, 'spoke', 'add', 'bench', name, '--type', 'google-contacts', '--account', email, '--allow-create', '--region', 'FR', '--config', 'visibilityLagMs=0');
    }
    const round = async (): Promise<Round> => {
      emu.counts.reset();
      const t0 = performance.now();
      const summary = JSON.parse(await cli(data, 'sync', 'bench', '--json')) as { status: string; totals: unknown };
      const ms = performance.now() - t0;
      if (summary.status !== 'ok') throw new Error(`sync status ${summary.status}: ${JSON.stringify(summary)}`);
      return { ms, byRoute: { ...emu.counts.byRoute }, calls: emu.counts.people(), totals: summary.totals };
    };
    const initial = await round();
    const union = n * 2 - shared;
    for (const email of [A, B]) {
      const have = emu.state.contactsOf(email).length;
      if (have !== union) throw new Error(`${email} holds ${have} contacts after the initial sync, expected ${union}`);
    }
    const settle = await round();
    const noop = await round();

    // The lower bound: what page sizes (connections.list ≤ 1,000, contactGroups.list ≤ 1,000) and
    // batch limits (batchCreateContacts ≤ 200) allow for the work there is: list each account once,
    // read its groups once, create the people it lacks, and create the groups it lacks.
    let bound = 0;
    for (const u of seed.users) {
      const lacks = union - (u.contacts?.length ?? 0);
      const groupsNeeded = new Set(seed.users.flatMap((x) => x.groups ?? []));
      const groupCreates = [...groupsNeeded].filter((g) => !(u.groups ?? []).includes(g)).length;
      bound += Math.ceil((u.contacts?.length ?? 0) / 1000) + 1 + Math.ceil(lacks / 200) + groupCreates;
    }
    const result = { date: new Date().toISOString(), n, shared, union, bound, initial, settle, noop, cpus: os.cpus().length, node: process.version };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const ratio = initial.calls / bound;
    process.stdout.write(`initial sync: ${initial.calls} People API calls, lower bound ${bound} (ratio ${ratio.toFixed(2)}; target ≤ 1.10: ${ratio <= 1.1 ? 'met' : 'MISSED'}); no-op re-sync: ${noop.calls} calls for 2 spokes (target 2: ${noop.calls === 2 ? 'met' : 'MISSED'})\n`);
    if (nArg < 0 && write) {
      await writeDocs(result);
      await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write('docs/benchmarks.md (Google section) and bench/results/google.json updated\n');
    }
  } finally {
    await emu.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

function table(byRoute: Record<string, number>): string {
  const rows = Object.entries(byRoute)
    .filter(([k]) => !k.startsWith('oauth.') && k !== 'photo')
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return ['| endpoint | calls |', '| --- | ---: |', ...rows.map(([k, v]) => `| \`${k}\` | ${v} |`)].join('\n');
}

async function writeDocs(r: { date: string; n: number; shared: number; union: number; bound: number; initial: Round; settle: Round; noop: Round; cpus: number; node: string }): Promise<void> {
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  const ratio = r.initial.calls / r.bound;
  const body = [
    BEGIN,
    '',
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC, Node ${r.node}, ${r.cpus} CPUs; emulator in the same process, no propagation delay, no faults.`,
    `Two accounts of ${r.n.toLocaleString('en')} contacts, ${r.shared.toLocaleString('en')} of them in both: ${r.union.toLocaleString('en')} people in all.`,
    '',
    '| run | People API calls | target | wall s |',
    '| --- | ---: | --- | ---: |',
    `| initial sync | ${r.initial.calls} | ≤ 1.1 × ${r.bound} = ${(1.1 * r.bound).toFixed(1)} — ${ratio <= 1.1 ? 'met' : `**missed** (${ratio.toFixed(2)} ×)`} | ${(r.initial.ms / 1000).toFixed(1)} |`,
    `| first re-sync (our own creates come back as unchanged) | ${r.settle.calls} | — | ${(r.settle.ms / 1000).toFixed(1)} |`,
    `| no-op re-sync | ${r.noop.calls} | 2 (one per spoke) — ${r.noop.calls === 2 ? 'met' : '**missed**'} | ${(r.noop.ms / 1000).toFixed(1)} |`,
    '',
    'Initial sync, by endpoint:',
    '',
    table(r.initial.byRoute),
    '',
    END,
  ].join('\n');
  const next = replaceGenerated(await readFile(file, 'utf8'), 'google', body);
  if (next === null) throw new Error(`docs/benchmarks.md has no Google section markers (${BEGIN})`);
  await writeFile(file, next);
}

await run();
