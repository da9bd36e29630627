/**
 * Where the CLI keeps its data and which database it uses: flags first, then the environment, then
 * defaults. This is the one place that reads process.env for the store.
 */
import os from 'node:os';
import path from 'node:path';

export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

export function resolveDataDir(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string {
  const fromFlag = opts.dataDir ?? env.HUBSYNC_DATA_DIR;
  if (fromFlag) return path.resolve(fromFlag);
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'hubsync');
}

export function resolveDatabaseUrl(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return opts.databaseUrl ?? env.HUBSYNC_DATABASE_URL ?? undefined;
}
