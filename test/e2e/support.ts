/**
 * The browser suite's harness: the web app in demo mode (Google and Microsoft emulators
 * in-process) on a free loopback port, Debian's Chromium through playwright-core with the flags
 * this machine needs, and numbered screenshots kept in test-artifacts/e2e/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createWebApp, type RunningApp } from '../../src/server/app.js';
import { startDemoProviders, type DemoProviders } from '../../src/server/demo.js';

export const CHROMIUM = process.env.HUBSYNC_CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium's own connections are refused on this closed
// network (docs: env machines/node-svc.md).
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface E2E {
  web: RunningApp;
  demo: DemoProviders;
  url: string;
  browser: Browser;
  dir: string;
  shot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startE2E(suite: string): Promise<E2E> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The browser suite needs Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does it). It cannot run without it.`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), `hubsync-e2e-${suite}-`));
  const shots = path.join('test-artifacts', 'e2e', suite);
  rmSync(shots, { recursive: true, force: true });
  mkdirSync(shots, { recursive: true });
  const demo = await startDemoProviders({}, 'http://localhost:0');
  const web = await createWebApp({
    dataDir: dir,
    env: demo.env ?? {},
    providers: demo.providers ?? new Map(),
    closers: demo.closers ?? [],
    demo: true,
    log: pino({ level: process.env.HUBSYNC_E2E_LOG ?? 'warn' }),
    schedulerEveryMs: 5_000,
  });
  const address = await web.server.listen({ port: 0, host: '127.0.0.1' });
  const url = address.replace('127.0.0.1', 'localhost');
  web.deps.config.publicUrl = url;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  let n = 0;
  return {
    web,
    demo,
    url,
    browser,
    dir,
    async shot(page, name) {
      n += 1;
      await page.screenshot({ path: path.join(shots, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      await web.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Contacts' e-mail addresses in one Google emulator account. */
export function googleEmails(demo: DemoProviders, email: string): Set<string> {
  const g = demo.google;
  if (!g) throw new Error('no Google emulator');
  const u = g.state.userByEmail(email);
  if (!u) throw new Error(`no Google user ${email}`);
  const out = new Set<string>();
  for (const rec of u.contacts.values()) {
    const person = g.state.latest(rec).person;
    if (!person) continue;
    for (const e of person.emailAddresses ?? []) if (e.value) out.add(e.value.toLowerCase());
  }
  return out;
}

/** Contacts' e-mail addresses in one Microsoft 365 mailbox (its default contacts folder). */
export function mailboxEmails(demo: DemoProviders, upn: string): Set<string> {
  const m = demo.microsoft;
  if (!m) throw new Error('no Microsoft emulator');
  const mb = m.state.mailbox(upn);
  if (!mb) throw new Error(`no mailbox ${upn}`);
  const out = new Set<string>();
  for (const c of mb.contacts.values()) {
    if (c.folderId !== mb.defaultFolderId) continue;
    for (const e of (c.props.emailAddresses as { address?: string }[] | undefined) ?? []) if (e.address) out.add(e.address.toLowerCase());
  }
  return out;
}
