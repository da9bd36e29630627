/**
 * `hubsync serve` — what `npm start` runs: the web app (wizard, dashboard, invitations, API) with
 * the scheduler inside. Listens on http://localhost:8080 unless PORT is set; data in
 * HUBSYNC_DATA_DIR (or --data-dir). With no provider credentials configured it runs in demo mode.
 */
import type { Command } from 'commander';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';
import type { GlobalOptions } from '../settings.js';

export function registerServeCommand(program: Command, env: CliEnv): void {
  program
    .command('serve')
    .description('run the web app and keep every hub in sync (http://localhost:8080, or $PORT)')
    .option('--port <port>', 'port to listen on (default: $PORT or 8080)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (opts: { port?: string; host: string }, cmd: Command) => {
      const port = Number(opts.port ?? process.env.PORT ?? 8080);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`Invalid port "${opts.port ?? process.env.PORT}".`, 2);
      const g = cmd.optsWithGlobals<GlobalOptions>();
      // Loaded here, not at the top: the web stack is the heaviest part of the CLI and every other
      // command starts faster without it.
      const { createWebApp } = await import('../../server/app.js');
      const { startDemoProviders } = await import('../../server/demo.js');
      const demo = await startDemoProviders(process.env, `http://localhost:${port}`);
      let web: Awaited<ReturnType<typeof createWebApp>>;
      try {
        web = await createWebApp({ ...g, ...demo });
      } catch (e) {
        // The demo's emulators listen already; left running, they would keep the process alive
        // after the error is printed (a bad setting, a store that cannot be opened).
        for (const close of demo.closers ?? []) await close();
        throw e;
      }
      let address: string;
      try {
        address = await web.server.listen({ port, host: opts.host });
      } catch (e) {
        await web.close();
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new CliError(`Port ${port} on ${opts.host} is already in use (is Hubsync running already?). Stop that program, or choose another port with PORT=… or --port.`);
        }
        throw e;
      }
      env.io.out(`Hubsync is running at ${address.replace('127.0.0.1', 'localhost')}${web.deps.config.demo ? ' (demo mode: emulated Google and Microsoft accounts)' : ''}`);
      env.io.out(`Data: ${web.app.store.location}. Stop with Ctrl-C.`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      env.io.out('Stopping…');
      await web.close();
    });
}
