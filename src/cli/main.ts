/**
 * `hubsync` — the command line. Every command opens the store named by --data-dir (or
 * HUBSYNC_DATA_DIR, or HUBSYNC_DATABASE_URL for PostgreSQL), does one thing, and exits non-zero
 * with one clear line on stderr when it cannot.
 */
import { Command, CommanderError } from 'commander';
import { isConnectorError } from '../connectors/kit/errors.js';
import { DecisionError } from '../engine/run/decisions.js';
import { SpokeSelectionError } from '../engine/run/sync-hub.js';
import { NotFoundError } from '../store/hubs.js';
import { LeaseHeldError } from '../store/lease.js';
import { registerAccountCommands } from './commands/account.js';
import { registerDecisionCommands } from './commands/decide.js';
import { registerEmulateCommands } from './commands/emulate.js';
import { registerHubCommands } from './commands/hub.js';
import { registerInspectCommands } from './commands/inspect.js';
import { registerMailboxesCommand } from './commands/mailboxes.js';
import { registerSpokeCommands } from './commands/spoke.js';
import { registerSplitCommand } from './commands/split.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStartCommand } from './commands/start.js';
import { registerSyncCommand } from './commands/sync.js';
import { CliError, processIo, type Io } from './io.js';

export interface CliEnv {
  io: Io;
}

export function buildProgram(env: CliEnv, setExit: (code: number) => void): Command {
  const program = new Command('hubsync')
    .description('Two-way sync of contacts between address books, through a hub.')
    .option('--data-dir <dir>', 'where the embedded store keeps its data (default: $HUBSYNC_DATA_DIR or ~/.local/share/hubsync)')
    .option('--database-url <url>', 'use a PostgreSQL store instead (default: $HUBSYNC_DATABASE_URL)')
    .showHelpAfterError('(run `hubsync --help` for the commands)')
    .configureOutput({ writeOut: (s) => env.io.out(s), writeErr: (s) => env.io.err(s) })
    .exitOverride();
  registerHubCommands(program, env);
  registerSpokeCommands(program, env);
  registerSyncCommand(program, env, setExit);
  registerInspectCommands(program, env);
  registerDecisionCommands(program, env);
  registerStartCommand(program, env);
  registerServeCommand(program, env);
  registerAccountCommands(program, env);
  registerMailboxesCommand(program, env);
  registerEmulateCommands(program, env);
  registerSplitCommand(program, env);
  return program;
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exit = 0;
  const program = buildProgram({ io }, (code) => {
    exit = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    io.err(`hubsync: ${describeError(e)}`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

export function describeError(e: unknown): string {
  if (e instanceof CliError || e instanceof NotFoundError || e instanceof LeaseHeldError || e instanceof DecisionError || e instanceof SpokeSelectionError) {
    return e.message;
  }
  if (isConnectorError(e)) return `${e.message}${e.itemId ? ` (item ${e.itemId})` : ''}`;
  if (e instanceof Error) return e.message;
  return String(e);
}
