/**
 * `hubsync emulate microsoft --port N --seed FILE`: the Microsoft 365 emulator in the foreground.
 * Registered in src/cli/commands/emulate.ts (`EMULATORS`).
 */
import type { Command } from 'commander';
import { CliError } from '../../cli/io.js';
import type { CliEnv } from '../../cli/main.js';

export function registerMicrosoftEmulator(emulate: Command, env: CliEnv): void {
  emulate
    .command('microsoft')
    .description('the Microsoft 365 emulator: identity platform v2.0 and Graph (contacts, directory, $batch), for tests and demos (docs/microsoft365.md)')
    .option('--port <n>', 'port to listen on (0: any free port)', '0')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--seed <file>', 'JSON file with the tenant, apps, users (mailboxes, contacts) and organisational contacts (default: the demo tenant)')
    .option('--latency <ms>', 'added latency per Graph request', '0')
    .action(async (opts: { port: string; host: string; seed?: string; latency: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`Invalid --port "${opts.port}".`, 2);
      // Loaded here, not at the top: every CLI command registers this one, and only it needs the emulator.
      const { demoMicrosoftSeed, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, loadMicrosoftSeed, microsoftEnv, startMicrosoftEmulator } = await import('./index.js');
      const seed = opts.seed ? await loadMicrosoftSeed(opts.seed) : demoMicrosoftSeed();
      const emu = await startMicrosoftEmulator({ port, host: opts.host, seed, latencyMs: Number(opts.latency) || 0 });
      const mailboxes = [...emu.state.mailboxes.keys()].length;
      env.io.out(`Microsoft 365 emulator listening on ${emu.url} (tenant ${emu.state.tenantId}, ${emu.state.users.size} users, ${mailboxes} mailboxes). Point Hubsync at it with:`);
      for (const [k, v] of Object.entries(microsoftEnv(emu.url))) env.io.out(`  export ${k}=${v}`);
      if (!opts.seed) env.io.out(`Demo app: hubsync account add microsoft --tenant ${emu.state.tenantId} --client-id ${DEMO_CLIENT_ID} --client-secret ${DEMO_CLIENT_SECRET} --name contoso`);
      env.io.out('Ctrl-C stops it.');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await emu.close();
    });
}
