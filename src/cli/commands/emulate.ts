/**
 * `hubsync emulate <provider>`: runs a provider emulator alone, in the foreground, until Ctrl-C.
 * Each provider adds one registrar to `EMULATORS`.
 */
import type { Command } from 'commander';
import { registerMicrosoftEmulator } from '../../emulators/microsoft/cli.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';

export type EmulatorRegistrar = (emulate: Command, env: CliEnv) => void;

/** Runs until SIGINT/SIGTERM, then closes the server. */
export async function untilSignal(close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await close();
}

const registerGoogleEmulator: EmulatorRegistrar = (emulate, env) => {
  emulate
    .command('google')
    .description('the Google emulator: OAuth 2.0 and the People API (contacts), for tests and demos (docs/google.md)')
    .option('--port <n>', 'port to listen on (0: any free port)', '0')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--seed <file>', 'JSON file with the users, their contacts and groups, OAuth clients and options')
    .option('--propagation-delay <ms>', 'writes show up in sync results after this delay')
    .action(async (opts: { port: string; host: string; seed?: string; propagationDelay?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`Invalid --port "${opts.port}".`, 2);
      // Loaded here, not at start-up: every other command would pay for the emulator's modules.
      const { googleEnv, loadSeedFile, startGoogle } = await import('../../emulators/google/index.js');
      const seed = opts.seed ? await loadSeedFile(opts.seed) : { users: [] };
      if (opts.propagationDelay !== undefined) seed.options = { ...seed.options, propagationDelayMs: Number(opts.propagationDelay) };
      const emu = await startGoogle({ port, host: opts.host, seed });
      env.io.out(`Google emulator listening on ${emu.url} (${emu.state.users.size} user${emu.state.users.size === 1 ? '' : 's'}). Point Hubsync at it with:`);
      for (const [k, v] of Object.entries(googleEnv(emu.url))) env.io.out(`  export ${k}=${v}`);
      env.io.out('  export HUBSYNC_GOOGLE_CLIENT_ID=hubsync-emulator-client HUBSYNC_GOOGLE_CLIENT_SECRET=emulator-secret');
      env.io.out(`Refresh tokens for \`hubsync account add google\`: POST ${emu.url}/__emulator/refresh-token {"email": "…", "clientId": "…"}. Ctrl-C stops it.`);
      await untilSignal(emu.close);
    });
};

export const EMULATORS: EmulatorRegistrar[] = [registerGoogleEmulator, registerMicrosoftEmulator];

export function registerEmulateCommands(program: Command, env: CliEnv): void {
  const emulate = program.command('emulate').description('run a provider emulator (Google, …) for tests, demos and benchmarks');
  for (const register of EMULATORS) register(emulate, env);
}
