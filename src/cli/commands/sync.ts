import type { Command } from 'commander';
import { syncHub } from '../../engine/run/sync-hub.js';
import { problemLine, type RunSummary, type SpokeReport } from '../../engine/run/report.js';
import { json, plural } from '../format.js';
import type { Io } from '../io.js';
import type { CliEnv } from '../main.js';
import { progressLine } from '../progress.js';
import { collect, withApp } from './shared.js';

export function registerSyncCommand(program: Command, env: CliEnv, setExit: (code: number) => void): void {
  program
    .command('sync <hub>')
    .description("sync a hub: bring every spoke's changes into the hub, then the hub's changes to every spoke")
    .option('--spoke <name>', 'only this spoke (repeatable)', collect)
    .option('--dry-run', 'show what would be created, updated and deleted, and change nothing')
    .option('--json', 'print one machine-readable summary')
    .action(async (hubName: string, opts: { spoke?: string[]; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      await withApp(cmd, async (app) => {
        const progress = progressLine((s) => process.stderr.write(s), env.io.isTTY && !opts.json);
        let summary: RunSummary;
        try {
          summary = await syncHub(
            { ...app.engine, onProgress: (ev) => progress.update(ev) },
            { hub: hubName, spokes: opts.spoke ?? [], dryRun: opts.dryRun ?? false },
          );
        } finally {
          progress.done();
        }
        if (opts.json) env.io.out(json(summary));
        else printSummary(env.io, summary);
        for (const s of summary.spokes) {
          if (s.status !== 'ok') env.io.err(`hubsync: hub "${summary.hub}", spoke "${s.name}": ${s.error ?? s.status}`);
        }
        if (summary.status !== 'ok') setExit(1);
      });
    });
}

/**
 * Problems listed per spoke in the summary; the rest are one command away (`hubsync problems`). A
 * first sync of an address book nobody had checked can report hundreds (phone numbers that are not
 * valid, kept as written), and they had scrolled the totals off the screen.
 */
const PROBLEMS_SHOWN = 10;

function counts(c: { created: number; updated: number; deleted: number }): string {
  return `+${c.created} ~${c.updated} -${c.deleted}`;
}

export function printSummary(io: Io, r: RunSummary): void {
  const dry = r.kind === 'dry-run';
  io.out('Counts are +created ~updated -deleted.');
  io.out(`${dry ? 'Dry run of' : 'Synced'} hub "${r.hub}" (run ${r.runId}) in ${((r.finishedAt - r.startedAt) / 1000).toFixed(1)} s${dry ? ' — nothing was changed' : ''}:`);
  for (const s of r.spokes) printSpoke(io, s, dry, r.hub, r.runId);
  const t = r.totals;
  io.out(
    `Total: hub ${counts(t.hub)}, spokes ${counts(t.spokes)}${dry ? ' (would be written)' : ''}` +
      `${t.conflicts ? `, ${plural(t.conflicts, 'conflict')} (see: hubsync conflicts "${r.hub}")` : ''}` +
      `${t.held ? `, ${plural(t.held, 'deletion')} held (see: hubsync held "${r.hub}")` : ''}` +
      `${t.problems ? `, ${plural(t.problems, 'problem')}` : ''}.`,
  );
}

function printSpoke(io: Io, s: SpokeReport, dry: boolean, hub: string, runId: string): void {
  if (s.status !== 'ok') {
    io.out(`  ${s.name}: ${s.status === 'needs-sign-in' ? 'NEEDS SIGN-IN' : 'FAILED'} — ${s.error ?? ''}`);
    return;
  }
  const verb = dry ? 'would be' : '';
  io.out(
    `  ${s.name}: read ${s.pulled.items + s.pulled.unchanged} (${s.pulled.items} new or changed); ` +
      `into hub ${counts(s.inbound)}${s.inbound.linked ? `, ${s.inbound.linked} matched` : ''}${s.inbound.moved ? `, ${s.inbound.moved} renamed or moved` : ''}${s.inbound.restored ? `, ${s.inbound.restored} restored` : ''}; ` +
      `written ${counts(s.outbound)}${verb ? ` (${verb})` : ''}${s.outbound.failed ? `, ${s.outbound.failed} failed` : ''}`,
  );
  if (s.inbound.held) io.out(`    ${plural(s.inbound.held, 'deletion')} from this spoke held: too many at once to apply without confirmation`);
  if (s.outbound.held) io.out(`    ${plural(s.outbound.held, 'deletion')} to this spoke held: too many at once to apply without confirmation`);
  if (s.inbound.reviews) io.out(`    ${plural(s.inbound.reviews, 'possible duplicate')} to review (hubsync review)`);
  if (dry) for (const p of s.planned) io.out(`    would ${p.op} ${p.label}${p.fields ? ` (${p.fields.join(', ')})` : ''}`);
  for (const p of s.problems.slice(0, PROBLEMS_SHOWN)) io.out(`    problem: ${problemLine(p)}`);
  if (s.problemCount > PROBLEMS_SHOWN) {
    io.out(`    … and ${plural(s.problemCount - PROBLEMS_SHOWN, 'more problem')}: hubsync problems "${hub}" --run ${runId}`);
  }
}
