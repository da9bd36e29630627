import type { Command } from 'commander';
import { openApp, type App } from '../app.js';
import type { GlobalOptions } from '../settings.js';

/** Opens the app with the global options, runs `fn`, and always closes the store. */
export async function withApp<T>(cmd: Command, fn: (app: App) => Promise<T>): Promise<T> {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const app = await openApp(opts);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
