/**
 * Runs the `hubsync` CLI in-process, as a user would type it, capturing what it prints.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { parseVCard } from '../../src/model/vcard.js';
import type { Card } from '../../src/model/card.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function hubsync(dataDir: string, ...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => void (out += t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => void (err += t.endsWith('\n') ? t : `${t}\n`),
    isTTY: false,
  };
  const code = await main(['--data-dir', dataDir, ...args], io);
  return { code, out, err };
}

/** Like `hubsync`, but fails the test with the CLI's output when the exit code is not 0. */
export async function ok(dataDir: string, ...args: string[]): Promise<string> {
  const r = await hubsync(dataDir, ...args);
  if (r.code !== 0) throw new Error(`hubsync ${args.join(' ')} exited ${r.code}\nstdout:\n${r.out}\nstderr:\n${r.err}`);
  return r.out;
}

export async function cardsIn(dir: string): Promise<Map<string, Card>> {
  const out = new Map<string, Card>();
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.vcf') || name.startsWith('.')) continue;
    out.set(name, parseVCard(await readFile(path.join(dir, name), 'utf8')).card);
  }
  return out;
}

export function emailsOfCard(c: Card): string[] {
  return Object.values(c.emails ?? {})
    .map((e) => e.address.toLowerCase())
    .sort();
}

/** The set of people in a folder, by their sorted e-mail addresses. */
export async function peopleIn(dir: string): Promise<string[]> {
  return [...(await cardsIn(dir)).values()].map((c) => emailsOfCard(c).join(',')).sort();
}
