/**
 * `hubsync start` — what `npm start` runs: keeps every hub in sync on a schedule, in the
 * foreground. On a new installation (no hub yet) it first sets up a demo hub of three vCard
 * folders filled with sample contacts, so there is something to look at and edit right away.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { defaultSpokeOptions } from '../../engine/plan/options.js';
import { syncHub } from '../../engine/run/sync-hub.js';
import { sampleContact, sampleVcard } from '../../demo/sample-contacts.js';
import { addSpoke, createHub, listHubs } from '../../store/hubs.js';
import type { App } from '../app.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import { describeError } from '../main.js';
import { printSummary } from './sync.js';
import { withApp } from './shared.js';

const DEMO_FOLDERS = [
  { name: 'phone', from: 0, to: 60 },
  { name: 'office', from: 40, to: 110 },
  { name: 'laptop', from: 90, to: 130 },
];

async function setUpDemo(app: App, env: CliEnv): Promise<void> {
  const root = path.join(app.dataDir, 'demo');
  const hub = await createHub(app.store.db, { id: app.engine.ids(), name: 'Demo', object: 'contacts', now: Date.now() });
  for (const f of DEMO_FOLDERS) {
    const dir = path.join(root, f.name);
    mkdirSync(dir, { recursive: true });
    for (let i = f.from; i < f.to; i++) {
      const c = sampleContact(7, i);
      // Overlapping folders hold the same people under their own file names and UIDs, as two
      // devices that were never synced would: the hub matches them by e-mail and phone.
      writeFileSync(path.join(dir, `${f.name}-${i}.vcf`), sampleVcard({ ...c, uid: `${f.name}-${c.uid}` }));
    }
    await addSpoke(app.store.db, {
      id: app.engine.ids(),
      hubId: hub.id,
      name: f.name,
      type: 'vdir',
      config: { path: dir },
      options: { ...defaultSpokeOptions(), allowCreate: true, defaultRegion: 'FR' },
      now: Date.now(),
    });
  }
  env.io.out(`Set up a demo hub "Demo" with three vCard folders under ${root}:`);
  for (const f of DEMO_FOLDERS) env.io.out(`  ${path.join(root, f.name)}  (${f.to - f.from} contacts)`);
  env.io.out('They overlap; the first sync merges them so that every folder holds every contact.');
}

export function registerStartCommand(program: Command, env: CliEnv): void {
  program
    .command('start')
    .description('keep every hub in sync on a schedule (sets up a demo hub on first start)')
    .option('--interval <minutes>', 'minutes between syncs', '15')
    .option('--once', 'sync once and exit')
    .option('--no-demo', 'do not set up the demo hub when there is no hub')
    .action(async (opts: { interval: string; once?: boolean; demo: boolean }, cmd: Command) => {
      const minutes = Number(opts.interval);
      if (!Number.isFinite(minutes) || minutes <= 0) throw new CliError(`Invalid --interval "${opts.interval}".`, 2);
      await withApp(cmd, async (app) => {
        env.io.out(`Hubsync — data in ${app.store.location}`);
        if ((await listHubs(app.store.db)).length === 0 && opts.demo) await setUpDemo(app, env);
        let stop = false;
        let wake: (() => void) | undefined;
        const onSignal = () => {
          stop = true;
          wake?.();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          while (!stop) {
            for (const hub of await listHubs(app.store.db)) {
              try {
                printSummary(env.io, await syncHub(app.engine, { hub: hub.name }));
              } catch (e) {
                env.io.err(`hubsync: hub "${hub.name}": ${describeError(e)}`);
              }
            }
            if (opts.once) break;
            const first = (await listHubs(app.store.db))[0]?.name ?? 'HUB';
            env.io.out(`Next sync in ${minutes} min (Ctrl-C to stop). Meanwhile, in another terminal: npx hubsync status "${first}" · npx hubsync --help`);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, minutes * 60_000);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });
}
