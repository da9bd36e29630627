/**
 * `hubsync emulate <provider>`: runs a provider emulator alone, in the foreground, until Ctrl-C.
 * Each provider adds one registrar to `EMULATORS`.
 */
import type { Command } from 'commander';
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

function portOf(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`Invalid --port "${value}".`, 2);
  return port;
}

/** An emulator's subcommand with the options every emulator takes (where it listens, what it holds). */
function emulatorCommand(emulate: Command, name: string, description: string, seedHelp: string): Command {
  return emulate
    .command(name)
    .description(description)
    .option('--port <n>', 'port to listen on (0: any free port)', '0')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--seed <file>', seedHelp);
}

const registerGoogleEmulator: EmulatorRegistrar = (emulate, env) => {
  emulatorCommand(
    emulate,
    'google',
    'the Google emulator: OAuth 2.0 and the People API (contacts), for tests and demos (docs/google.md)',
    'JSON file with the users, their contacts and groups, OAuth clients and options',
  )
    .option('--propagation-delay <ms>', 'writes show up in sync results after this delay')
    .action(async (opts: { port: string; host: string; seed?: string; propagationDelay?: string }) => {
      const port = portOf(opts.port);
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

const registerMicrosoftEmulator: EmulatorRegistrar = (emulate, env) => {
  emulatorCommand(
    emulate,
    'microsoft',
    'the Microsoft 365 emulator: identity platform v2.0 and Graph (contacts, directory, $batch), for tests and demos (docs/microsoft365.md)',
    'JSON file with the tenant, apps, users (mailboxes, contacts) and organisational contacts (default: the demo tenant)',
  )
    .option('--latency <ms>', 'added latency per Graph request', '0')
    .action(async (opts: { port: string; host: string; seed?: string; latency: string }) => {
      const port = portOf(opts.port);
      const { demoMicrosoftSeed, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, loadMicrosoftSeed, microsoftEnv, startMicrosoftEmulator } = await import('../../emulators/microsoft/index.js');
      const seed = opts.seed ? await loadMicrosoftSeed(opts.seed) : demoMicrosoftSeed();
      const emu = await startMicrosoftEmulator({ port, host: opts.host, seed, latencyMs: Number(opts.latency) || 0 });
      const mailboxes = [...emu.state.mailboxes.keys()].length;
      env.io.out(`Microsoft 365 emulator listening on ${emu.url} (tenant ${emu.state.tenantId}, ${emu.state.users.size} users, ${mailboxes} mailboxes). Point Hubsync at it with:`);
      for (const [k, v] of Object.entries(microsoftEnv(emu.url))) env.io.out(`  export ${k}=${v}`);
      if (!opts.seed) env.io.out(`Demo app: hubsync account add microsoft --tenant ${emu.state.tenantId} --client-id ${DEMO_CLIENT_ID} --client-secret ${DEMO_CLIENT_SECRET} --name contoso`);
      // The mailboxes to name in `spoke add --mailbox`, those holding contacts first.
      const withMailbox = [...emu.state.mailboxes.values()]
        .sort((a, b) => b.contacts.size - a.contacts.size)
        .flatMap((mb) => emu.state.users.get(mb.userId)?.userPrincipalName ?? []);
      if (withMailbox.length > 0) env.io.out(`Mailboxes: ${withMailbox.slice(0, 5).join(', ')}${withMailbox.length > 5 ? ', …' : ''} (all of them: hubsync mailboxes ACCOUNT)`);
      env.io.out('Ctrl-C stops it.');
      await untilSignal(emu.close);
    });
};

export const EMULATORS: EmulatorRegistrar[] = [registerGoogleEmulator, registerMicrosoftEmulator];

export function registerEmulateCommands(program: Command, env: CliEnv): void {
  const emulate = program.command('emulate').description('run a provider emulator (Google, …) for tests, demos and benchmarks');
  for (const register of EMULATORS) register(emulate, env);
}
