/**
 * The `hubsync` CLI run in this process (the Google and Microsoft benchmarks: their emulators run
 * here too, so request counts and timings need no second process). Returns what it printed; a
 * non-zero exit throws with the output.
 */
import type { Io } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';

export async function cli(data: string, ...args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), isTTY: false };
  const code = await main(['--data-dir', data, ...args], io);
  if (code !== 0) throw new Error(`hubsync ${args.join(' ')} exited ${code}\n${out}\n${err}`);
  return out;
}
