/**
 * What the web app writes to its log: JSON lines for a service, one readable line per event in a
 * terminal, and in both one line per request.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import type { RunningApp } from '../../src/server/app.js';
import { logFormat, serverLogger } from '../../src/server/logging.js';
import { startTestServer, type TestServer } from './helpers.js';

/** A stream that keeps what is written to it, line by line; `isTTY` as asked. */
function capture(isTTY = false): Writable & { isTTY: boolean; lines: () => string[] } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return Object.assign(out, { isTTY, lines: () => text.split('\n').filter((l) => l !== '') });
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function appWith(log: Logger): Promise<RunningApp> {
  server = await startTestServer({ log });
  return server.web;
}

describe('log format', () => {
  it('is readable in a terminal and JSON anywhere else, unless HUBSYNC_LOG_FORMAT says', () => {
    expect(logFormat({}, { isTTY: true })).toBe('pretty');
    expect(logFormat({}, { isTTY: false })).toBe('json');
    expect(logFormat({}, {})).toBe('json');
    expect(logFormat({ HUBSYNC_LOG_FORMAT: 'json' }, { isTTY: true })).toBe('json');
    expect(logFormat({ HUBSYNC_LOG_FORMAT: 'Pretty' }, { isTTY: false })).toBe('pretty');
    expect(() => logFormat({ HUBSYNC_LOG_FORMAT: 'xml' }, {})).toThrow(/HUBSYNC_LOG_FORMAT must be "json" or "pretty" \(got "xml"\)/);
  });

  it('writes one JSON line per request, when it is answered, with its method, path, status and time', async () => {
    const out = capture();
    const app = await appWith(serverLogger({ HUBSYNC_LOG_FORMAT: 'json' }, out));
    expect((await app.server.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect((await app.server.inject({ method: 'GET', url: '/no/such/page' })).statusCode).toBe(302);
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l['msg'] === 'incoming request')).toBe(false);
    const requests = lines.filter((l) => l['msg'] === 'request completed');
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({ level: 30, req: { method: 'GET', url: '/health' }, res: { statusCode: 200 }, responseTime: expect.any(Number) });
    expect(requests[1]).toMatchObject({ req: { method: 'GET', url: '/no/such/page' }, res: { statusCode: 302 } });
  });

  it('writes a request as one short line in a terminal, and an event with its fields on its line and its error under it', async () => {
    const out = capture(true);
    const log = serverLogger({}, out);
    const app = await appWith(log);
    await app.server.inject({ method: 'GET', url: '/health' });
    log.warn({ hub: 'Office', spoke: 'Ann', err: 'token expired' }, 'spoke failed; backing off');
    // Colours are on for a terminal; the words are what a person reads.
    // eslint-disable-next-line no-control-regex
    const lines = out.lines().map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(lines.filter((l) => l.includes('/health'))).toEqual([expect.stringMatching(/^\[\d\d:\d\d:\d\d\] INFO: GET \/health → 200 \(\d+ ms\)$/)]);
    const at = lines.findIndex((l) => l.includes('spoke failed'));
    expect(lines[at]).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: spoke failed; backing off \{"hub":"Office","spoke":"Ann"\}$/);
    // The error goes on a line of its own under it (a stack, for an Error).
    expect(lines[at + 1]).toBe('    err: "token expired"');
    expect(lines.some((l) => l.includes('"pid"') || l.includes('hostname'))).toBe(false);
  });
});
