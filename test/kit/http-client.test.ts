import { describe, expect, it } from 'vitest';
import { HttpClient, parseRetryAfter } from '../../src/connectors/kit/http-client.js';
import { isConnectorError } from '../../src/connectors/kit/errors.js';

function fakeFetch(script: (Response | Error)[]): { fetch: typeof globalThis.fetch; calls: { url: string; init: RequestInit | undefined }[] } {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init });
    const next = script.shift();
    if (!next) throw new Error('no more scripted responses');
    if (next instanceof Error) throw next;
    return next;
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('HttpClient', () => {
  it('honours Retry-After on 429 and backs off on 5xx and network errors', async () => {
    const waits: number[] = [];
    const { fetch, calls } = fakeFetch([json(429, {}, { 'retry-after': '3' }), json(503, {}), new TypeError('socket hang up'), json(200, { ok: 1 })]);
    const c = new HttpClient({ baseUrl: 'http://x.test/api/', fetch, sleep: async (ms) => void waits.push(ms), random: () => 0.5 });
    const r = await c.request<{ ok: number }>('GET', '/v1/things', { query: { a: 1, b: undefined } });
    expect(r.body).toEqual({ ok: 1 });
    expect(calls.map((x) => x.url)).toEqual(Array(4).fill('http://x.test/api/v1/things?a=1'));
    expect(waits).toEqual([3000, 500, 1000]);
  });

  it('does not retry a client error, and says what the server said', async () => {
    const { fetch, calls } = fakeFetch([json(400, { error: { message: 'bad field' } })]);
    const e = await new HttpClient({ baseUrl: 'http://x.test', fetch }).request('POST', '/a', { json: {} }).catch((x: unknown) => x);
    expect(isConnectorError(e, 'invalid_data')).toBe(true);
    expect((e as Error).message).toMatch(/bad field/);
    expect(calls).toHaveLength(1);
  });

  it('gives up after the wait budget, with the last error', async () => {
    const { fetch } = fakeFetch(Array.from({ length: 10 }, () => json(429, {}, { 'retry-after': '100' })));
    const e = await new HttpClient({ baseUrl: 'http://x.test', fetch, maxWaitMs: 150_000, sleep: async () => undefined }).request('GET', '/a').catch((x: unknown) => x);
    expect(isConnectorError(e, 'rate_limited')).toBe(true);
  });

  it('gets a fresh token once after a 401, then reports auth_revoked', async () => {
    let n = 0;
    const dropped: string[] = [];
    const auth = { accessToken: async () => `t${++n}`, invalidateAccessToken: (t: string) => void dropped.push(t) };
    const { fetch, calls } = fakeFetch([json(401, {}), json(200, { ok: true })]);
    await new HttpClient({ baseUrl: 'http://x.test', fetch, auth }).request('GET', '/a');
    expect(dropped).toEqual(['t1']);
    expect((calls[1]?.init?.headers as Record<string, string>).authorization).toBe('Bearer t2');
    const f2 = fakeFetch([json(401, {}), json(401, {})]);
    const e = await new HttpClient({ baseUrl: 'http://x.test', fetch: f2.fetch, auth }).request('GET', '/a').catch((x: unknown) => x);
    expect(isConnectorError(e, 'auth_revoked')).toBe(true);
  });

  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT'))).toBe(60_000);
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
