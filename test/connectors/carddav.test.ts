/**
 * The CardDAV spoke's parts that need no real server: settings, authentication (RFC 7616 test
 * vectors), the per-server request limit, the error classifier, and protocol corner cases played
 * by a scripted server (a `fetch` that answers like a CardDAV server would). The behaviour against
 * real servers is in test/interop/ (`npm run test:interop`).
 */
import { describe, expect, it } from 'vitest';
import { AuthenticatingFetch, digestHeader, parseDigestChallenge } from '../../src/connectors/carddav/auth.js';
import { carddavConnectorFactory } from '../../src/connectors/carddav/carddav-connector.js';
import { classifyDav } from '../../src/connectors/carddav/errors.js';
import { DavTransport } from '../../src/connectors/carddav/transport.js';
import type { Connector, PullPage } from '../../src/connectors/kit/contract.js';
import { isConnectorError } from '../../src/connectors/kit/errors.js';
import type { Card } from '../../src/model/card.js';
import { knownEtagsFrom } from '../../src/connectors/kit/known-etags.js';

const BOOK = 'https://dav.example.org/u/book/';

function card(given: string, uid = `urn:uuid:${given}`): Card {
  return { '@type': 'Card', version: '1.0', uid, name: { components: [{ kind: 'given', value: given }, { kind: 'surname', value: 'Test' }] }, emails: { e1: { address: `${given.toLowerCase()}@example.org` } } };
}

const vcard = (uid: string, fn: string, extra = ''): string => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${fn};;;;\r\n${extra}END:VCARD\r\n`;

interface Seen {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

/** A scripted server: `answer` gets every request and returns the response. */
function scripted(answer: (r: Seen) => Response | Promise<Response>): { fetch: typeof globalThis.fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch: typeof globalThis.fetch = async (input, init = {}) => {
    const r: Seen = { method: init.method ?? 'GET', url: String(input), headers: new Headers(init.headers), body: typeof init.body === 'string' ? init.body : '' };
    seen.push(r);
    return answer(r);
  };
  return { fetch, seen };
}

function multistatus(responses: string, token?: string): Response {
  return new Response(
    `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">${responses}${token ? `<d:sync-token>${token}</d:sync-token>` : ''}</d:multistatus>`,
    { status: 207, headers: { 'content-type': 'application/xml; charset=utf-8' } },
  );
}

function item(href: string, etag: string, data?: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<d:response><d:href>${href}</d:href><d:propstat><d:prop><d:getetag>${esc(etag)}</d:getetag>${data !== undefined ? `<card:address-data>${esc(data)}</card:address-data>` : ''}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`;
}

function connect(fetch: typeof globalThis.fetch, extra: Record<string, unknown> = {}): Connector {
  return carddavConnectorFactory.create(carddavConnectorFactory.parseConfig({ url: BOOK, addressBook: BOOK, ...extra }), {
    now: () => 0,
    defaultRegion: 'DE',
    auth: { username: 'ann', password: 'pw' },
    fetch,
  });
}

async function pullAll(c: Connector, cursor: string | null = null, known: Record<string, string> = {}, linked?: number): Promise<PullPage[]> {
  const pages: PullPage[] = [];
  for await (const p of c.pull({ cursor, knownEtags: knownEtagsFrom((id) => known[id]), ...(linked === undefined ? {} : { linked }) })) pages.push(p);
  return pages;
}

describe('carddav: parseConfig', () => {
  it('fills in the defaults and keeps the collection URL with a trailing slash', () => {
    expect(carddavConnectorFactory.parseConfig({ url: 'https://dav.example.org/', addressBook: 'https://dav.example.org/u/book' })).toEqual({
      url: 'https://dav.example.org/',
      addressBook: BOOK,
      addressBookName: null,
      account: null,
      caFile: null,
      concurrency: 4,
      authScheme: 'basic',
      version: '3.0',
      multigetBatch: 250,
    });
  });

  it('refuses credentials in the URL, other schemes, relative CA files, bad numbers and unknown settings', () => {
    expect(() => carddavConnectorFactory.parseConfig({ url: 'https://ann:pw@dav.example.org/' })).toThrow(/must not contain a username or password/);
    expect(() => carddavConnectorFactory.parseConfig({ url: 'ftp://dav.example.org/' })).toThrow(/http/);
    expect(() => carddavConnectorFactory.parseConfig({})).toThrow(/"url" is required/);
    expect(() => carddavConnectorFactory.parseConfig({ url: BOOK, caFile: 'ca.pem' })).toThrow(/absolute/);
    expect(() => carddavConnectorFactory.parseConfig({ url: BOOK, concurrency: '0' })).toThrow(/"concurrency"/);
    expect(() => carddavConnectorFactory.parseConfig({ url: BOOK, authScheme: 'ntlm' })).toThrow(/"authScheme"/);
    expect(() => carddavConnectorFactory.parseConfig({ url: BOOK, pasword: 'x' })).toThrow(/unknown setting "pasword"/);
    expect(carddavConnectorFactory.parseConfig({ url: BOOK, concurrency: '8' }).concurrency).toBe(8);
  });
});

describe('carddav: authentication', () => {
  // RFC 7616 §3.9.1: the example request for "Mufasa" / "Circle of Life".
  const challenge =
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const creds = { username: 'Mufasa', password: 'Circle of Life' };
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';

  it('answers the RFC 7616 example challenge with the documented responses (SHA-256 and MD5)', () => {
    const ch = parseDigestChallenge(challenge);
    expect(ch).toMatchObject({ realm: 'http-auth@example.org', algorithm: 'SHA-256', qop: 'auth, auth-int' });
    const sha = digestHeader(creds, ch!, 'GET', '/dir/index.html', 1, cnonce);
    expect(sha).toContain('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
    expect(sha).toContain('nc=00000001');
    const md5 = digestHeader(creds, { ...ch!, algorithm: 'MD5' }, 'GET', '/dir/index.html', 1, cnonce);
    expect(md5).toContain('response="8ca523f5e9506fed4657c9700eebdbec"');
  });

  it('auto: no credentials first; a Digest challenge is answered, then every request carries Digest with a growing nc', async () => {
    const { fetch, seen } = scripted((r) => {
      const a = r.headers.get('authorization');
      if (a === null || !a.startsWith('Digest ')) return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="x", Digest realm="x", nonce="n1", qop="auth"' } });
      return new Response('ok');
    });
    const auth = new AuthenticatingFetch(fetch, 'https://dav.example.org', { username: 'ann', password: 'pw' }, 'auto');
    expect((await auth.fetch(`${BOOK}a.vcf`)).status).toBe(200);
    expect((await auth.fetch(`${BOOK}b.vcf`)).status).toBe(200);
    expect(auth.scheme()).toBe('digest');
    expect(seen.map((s) => s.headers.get('authorization')?.split(' ')[0] ?? null)).toEqual([null, 'Digest', 'Digest']);
    expect(seen[1]?.headers.get('authorization')).toContain('nc=00000001');
    expect(seen[2]?.headers.get('authorization')).toContain('nc=00000002');
    // The password itself is never on the wire with Digest.
    for (const s of seen) expect(s.headers.get('authorization') ?? '').not.toContain('pw');
  });

  it('auto with a Basic-only server uses Basic; credentials never go to another origin', async () => {
    const { fetch, seen } = scripted((r) =>
      r.headers.get('authorization') ? new Response('ok') : new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="Radicale - Password Required"' } }),
    );
    const auth = new AuthenticatingFetch(fetch, 'https://dav.example.org', { username: 'ann', password: 'pw' }, 'auto');
    await auth.fetch(BOOK);
    expect(auth.scheme()).toBe('basic');
    expect(seen[1]?.headers.get('authorization')).toBe(`Basic ${Buffer.from('ann:pw').toString('base64')}`);
    await auth.fetch('https://elsewhere.example.com/x').catch(() => undefined);
    expect(seen.at(-1)?.headers.get('authorization')).toBeNull();
  });
});

describe('carddav: transport and classifier', () => {
  it('keeps at most `concurrency` requests in flight against the server', async () => {
    let inFlight = 0;
    let max = 0;
    const fetch: typeof globalThis.fetch = async () => {
      inFlight += 1;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      return new Response('x');
    };
    const t = new DavTransport({ url: BOOK, credentials: null, scheme: 'basic', concurrency: 3, caFile: null, fetch });
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.request('GET', `${BOOK}${i}.vcf`, undefined, {})));
    expect(max).toBe(3);
  });

  it('maps DAV statuses into the taxonomy', () => {
    const res = (status: number, text = '') => ({ status, text, headers: new Headers(), body: undefined });
    expect(classifyDav(res(401)).kind).toBe('auth_revoked');
    expect(classifyDav(res(403, '<error xmlns="DAV:"><valid-sync-token/></error>')).kind).toBe('cursor_invalid');
    expect(classifyDav(res(403)).kind).toBe('permission');
    expect(classifyDav(res(409)).kind).toBe('not_found');
    expect(classifyDav(res(412)).kind).toBe('conflict');
    expect(classifyDav(res(507)).kind).toBe('transient');
    expect(classifyDav(res(503)).kind).toBe('transient');
    expect(classifyDav(res(415)).kind).toBe('invalid_data');
    expect(classifyDav(res(405)).kind).toBe('unsupported');
  });
});

describe('carddav: protocol corner cases (scripted server)', () => {
  it('a PUT answered without an ETag is read back once for it (RFC 7231 allows the omission)', async () => {
    const { fetch, seen } = scripted((r) => {
      if (r.method === 'PUT') return new Response(null, { status: 201 });
      if (r.method === 'GET') return new Response(vcard('urn:uuid:Ada', 'Ada Test', 'X-HUBSYNC-ID:m1\r\n'), { headers: { etag: '"e1"' } });
      return new Response('', { status: 500 });
    });
    const res = await connect(fetch).create(card('Ada'), { marker: 'm1' });
    expect(res).toMatchObject({ id: 'm1.vcf', etag: '"e1"' });
    expect(res.echoed?.marker).toBe('m1');
    expect(seen.map((s) => s.method)).toEqual(['PUT', 'GET']);
    expect(seen[0]?.headers.get('if-none-match')).toBe('*');
  });

  it('a server that puts the created item elsewhere (Location) is followed, and a 412 on create is already_exists', async () => {
    const { fetch } = scripted((r) => {
      if (r.method === 'PUT' && r.url.endsWith('m2.vcf')) return new Response(null, { status: 201, headers: { etag: '"x"', location: '/u/book/server-chosen.vcf' } });
      if (r.method === 'PUT') return new Response(null, { status: 412 });
      return new Response('', { status: 500 });
    });
    const c = connect(fetch);
    expect((await c.create(card('Bo'), { marker: 'm2' })).id).toBe('server-chosen.vcf');
    const err = await c.create(card('Bo'), { marker: 'm3' }).catch((e: unknown) => e);
    expect(isConnectorError(err, 'already_exists')).toBe(true);
  });

  it('listed items whose vCard the server does not return are problems, kept as unchanged, never deletions', async () => {
    const { fetch } = scripted((r) => {
      if (r.body.includes('sync-collection')) return multistatus(item('/u/book/a.vcf', '"a1"') + item('/u/book/b.vcf', '"b1"'), 'tok1');
      if (r.body.includes('addressbook-multiget')) return multistatus(item('/u/book/a.vcf', '"a1"', vcard('a', 'Ann A')));
      return new Response('', { status: 500 });
    });
    const pages = await pullAll(connect(fetch), null, { 'b.vcf': '"b0"' });
    expect(pages.flatMap((p) => p.items.map((i) => i.id))).toEqual(['a.vcf']);
    expect(pages.flatMap((p) => p.problems.map((x) => x.id))).toEqual(['b.vcf']);
    expect(pages.flatMap((p) => p.unchanged)).toEqual(['b.vcf']);
    expect(pages.every((p) => p.complete)).toBe(true);
  });

  it('a re-sync asks sync-collection for etags only and reads just the members whose etag changed, in one multiget', async () => {
    const { fetch, seen } = scripted((r) => {
      if (r.body.includes('sync-collection')) {
        // Our own write coming back (etag known) and a member someone else changed.
        return multistatus(item('/u/book/ours.vcf', '"o1"') + item('/u/book/theirs.vcf', '"t2"'), 'tok2');
      }
      if (r.body.includes('addressbook-multiget')) return multistatus(item('/u/book/theirs.vcf', '"t2"', vcard('t', 'Tim T')));
      return new Response('', { status: 500 });
    });
    const cursor = JSON.stringify({ b: BOOK, t: 'tok1' });
    const pages = await pullAll(connect(fetch), cursor, { 'ours.vcf': '"o1"', 'theirs.vcf': '"t1"' });
    const sync = seen.find((s) => s.body.includes('sync-collection'));
    expect(sync?.body).toContain('<d:getetag/>');
    expect(sync?.body).not.toContain('address-data');
    const multigets = seen.filter((s) => s.body.includes('addressbook-multiget'));
    expect(multigets).toHaveLength(1);
    expect(multigets[0]?.body).toContain('theirs.vcf');
    expect(multigets[0]?.body).not.toContain('ours.vcf');
    expect(pages.flatMap((p) => p.unchanged)).toEqual(['ours.vcf']);
    expect(pages.flatMap((p) => p.items.map((i) => [i.id, i.etag]))).toEqual([['theirs.vcf', '"t2"']]);
    expect(pages.at(-1)?.cursor).toBe(JSON.stringify({ b: BOOK, t: 'tok2' }));
  });

  it('a first listing asks for etags, then reads the cards by multiget a batch at a time; a full listing of a book the hub holds reads only the changed', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const { fetch, seen } = scripted((r) => {
      // A server that would send the data in sync-collection too (Radicale does): never asked for.
      if (r.body.includes('sync-collection')) return multistatus(names.map((n) => item(`/u/book/${n}.vcf`, `"${n}1"`, r.body.includes('address-data') ? vcard(n, `${n.toUpperCase()} Person`) : undefined)).join(''), 'tok1');
      if (r.body.includes('addressbook-multiget')) {
        const asked = [...r.body.matchAll(/\/u\/book\/(\w)\.vcf/g)].map((m) => m[1] as string);
        return multistatus(asked.map((n) => item(`/u/book/${n}.vcf`, `"${n}1"`, vcard(n, `${n.toUpperCase()} Person`))).join(''));
      }
      return new Response('', { status: 500 });
    });
    // A first sync: the etags, then the cards, two per REPORT here (250 by default): each answer is
    // parsed whole, so the batch bounds the memory, not the book.
    const first = await pullAll(connect(fetch, { multigetBatch: 2 }), null, {}, 0);
    const sync = seen.filter((s) => s.body.includes('sync-collection'));
    expect(sync).toHaveLength(1);
    expect(sync[0]?.body).not.toContain('address-data');
    const batches = seen.filter((s) => s.body.includes('addressbook-multiget')).map((s) => [...s.body.matchAll(/\/u\/book\/(\w)\.vcf/g)].map((m) => m[1]));
    expect(batches).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(first.flatMap((p) => p.items.map((i) => i.id))).toEqual(names.map((n) => `${n}.vcf`));
    expect(first.every((p) => p.complete)).toBe(true);
    // The daily full listing of a book whose cards the hub holds: etags, then only what changed.
    seen.length = 0;
    const again = await pullAll(connect(fetch), null, { 'a.vcf': '"a1"', 'b.vcf': '"b1"', 'c.vcf': '"c1"', 'd.vcf': '"d0"' }, 4);
    const multigets = seen.filter((s) => s.body.includes('addressbook-multiget'));
    expect(multigets).toHaveLength(1);
    expect([...(multigets[0]?.body ?? '').matchAll(/\/u\/book\/(\w)\.vcf/g)].map((m) => m[1])).toEqual(['d', 'e']);
    expect(again.flatMap((p) => p.unchanged)).toEqual(['a.vcf', 'b.vcf', 'c.vcf']);
    expect(again.flatMap((p) => p.items.map((i) => i.id))).toEqual(['d.vcf', 'e.vcf']);
    expect(again.every((p) => p.complete)).toBe(true);
  });

  it('updates running at once share one multiget for the texts they rewrite, and keep unknown properties', async () => {
    const texts: Record<string, string> = {
      'a.vcf': vcard('a', 'Ann A', 'X-KEEP:1\r\n'),
      'b.vcf': vcard('b', 'Bob B', 'item1.EMAIL:b@example.org\r\nitem1.X-ABLabel:Other\r\n'),
      'c.vcf': vcard('c', 'Cy C'),
    };
    const { fetch, seen } = scripted((r) => {
      if (r.body.includes('addressbook-multiget')) return multistatus(Object.entries(texts).map(([n, t]) => item(`/u/book/${n}`, `"${n}"`, t)).join(''));
      if (r.method === 'PUT') {
        texts[r.url.split('/').at(-1) as string] = r.body;
        return new Response(null, { status: 204, headers: { etag: '"new"' } });
      }
      return new Response('', { status: 500 });
    });
    const c = connect(fetch);
    await Promise.all(['a.vcf', 'b.vcf', 'c.vcf'].map((id) => c.update(id, { ...card('Zed', id[0]), name: { full: `Changed ${id}` } }, { ifMatch: `"${id}"`, changed: ['name.full'] })));
    expect(seen.filter((s) => s.method === 'REPORT')).toHaveLength(1);
    expect(seen.filter((s) => s.method === 'PUT').map((s) => s.headers.get('if-match')).sort()).toEqual(['"a.vcf"', '"b.vcf"', '"c.vcf"']);
    expect(texts['a.vcf']).toContain('X-KEEP:1');
    expect(texts['b.vcf']).toMatch(/item1\.X-ABLabel:Other/i);
    expect(texts['c.vcf']).toContain('FN:Changed c.vcf');
  });

  it('an update given the text the hub kept for its etag (`previous`) sends one PUT and no read, and keeps unknown properties', async () => {
    const { fetch, seen } = scripted((r) => {
      if (r.method === 'PUT') return new Response(null, { status: 204, headers: { etag: '"a2"' } });
      return new Response('', { status: 500 });
    });
    const c = connect(fetch);
    const kept = vcard('a', 'Ann A', 'X-KEEP:1\r\nitem1.EMAIL:a@example.org\r\nitem1.X-ABLabel:Other\r\n');
    const res = await c.update('a.vcf', { ...card('Ann', 'a'), name: { full: 'Ann Changed' } }, { ifMatch: '"a1"', changed: ['name.full'], previous: kept });
    expect(seen.map((s) => s.method)).toEqual(['PUT']);
    expect(seen[0]?.headers.get('if-match')).toBe('"a1"');
    expect(seen[0]?.body).toContain('X-KEEP:1');
    expect(seen[0]?.body).toMatch(/item1\.X-ABLabel:Other/i);
    expect(seen[0]?.body).toContain('FN:Ann Changed');
    // What the server stores now (it answered with an ETag, so the octets sent), for the next update.
    expect(res).toMatchObject({ id: 'a.vcf', etag: '"a2"', raw: seen[0]?.body });
  });

  it('items read by a pull carry their text (`raw`), so the hub can hand it back to an update', async () => {
    const text = vcard('a', 'Ann A', 'X-KEEP:1\r\n');
    const { fetch } = scripted((r) => {
      if (r.body.includes('sync-collection')) return multistatus(item('/u/book/a.vcf', '"a1"', text), 'tok1');
      return new Response('', { status: 500 });
    });
    const pages = await pullAll(connect(fetch), null, {});
    // (The XML parser drops the whitespace around address-data.)
    expect(pages.flatMap((p) => p.items.map((i) => [i.id, i.etag, i.raw?.trim()]))).toEqual([['a.vcf', '"a1"', text.trim()]]);
  });

  it('an incremental pull: 404 entries are deletions, a 500 on the stored token is cursor_invalid (Xandikos), a foreign cursor too', async () => {
    let fail = false;
    const { fetch } = scripted((r) => {
      if (fail) return new Response('Server got itself in trouble', { status: 500 });
      if (r.body.includes('<d:sync-token>tok1</d:sync-token>')) {
        return multistatus(`<d:response><d:href>/u/book/gone.vcf</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>${item('/u/book/new.vcf', '"n1"', vcard('n', 'New N'))}`, 'tok2');
      }
      return new Response('', { status: 500 });
    });
    const c = connect(fetch);
    const cursor = JSON.stringify({ b: BOOK, t: 'tok1' });
    const pages = await pullAll(c, cursor);
    expect(pages.flatMap((p) => p.deleted)).toEqual(['gone.vcf']);
    expect(pages.flatMap((p) => p.items.map((i) => i.id))).toEqual(['new.vcf']);
    expect(pages.at(-1)?.cursor).toBe(JSON.stringify({ b: BOOK, t: 'tok2' }));
    expect(pages.every((p) => !p.complete)).toBe(true);
    fail = true;
    const err = await pullAll(c, cursor).catch((e: unknown) => e);
    expect(isConnectorError(err, 'cursor_invalid')).toBe(true);
    const foreign = await pullAll(c, JSON.stringify({ b: 'https://dav.example.org/u/other/', t: 'tok1' })).catch((e: unknown) => e);
    expect(isConnectorError(foreign, 'cursor_invalid')).toBe(true);
  });

  it('a delete answered 412 for an item that is already gone counts as deleted (RFC 9110 If-Match on a missing resource)', async () => {
    const { fetch } = scripted((r) => (r.method === 'DELETE' ? new Response(null, { status: 412 }) : new Response('', { status: 404 })));
    await expect(connect(fetch).delete('a.vcf', { ifMatch: '"old"' })).resolves.toBeUndefined();
  });
});
