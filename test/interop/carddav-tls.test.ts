/**
 * TLS with a private CA: Radicale behind an HTTPS front whose certificate is signed by a CA made for
 * this test (openssl). With `caFile` the spoke connects; without it the certificate is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { carddavConnectorFactory } from '../../src/connectors/carddav/carddav-connector.js';
import { resolveCarddavSpoke } from '../../src/connectors/carddav/setup.js';
import { isConnectorError } from '../../src/connectors/kit/errors.js';
import { DavUser, makeAddressBook, requireBinary, startRadicale, type DavServer } from '../support/dav-servers.js';
import { noKnownEtags } from '../../src/connectors/kit/known-etags.js';

const ALICE = { username: 'alice', password: 'alicepw' };
let radicale: DavServer;
let front: https.Server;
let frontUrl: string;
let dir: string;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

beforeAll(async () => {
  requireBinary('openssl');
  radicale = await startRadicale({ alice: ALICE.password });
  dir = await mkdtemp(path.join(os.tmpdir(), 'hubsync-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Hubsync test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  await import('node:fs/promises').then((fs) => fs.writeFile(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n'));
  openssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
  const up = new URL(radicale.url);
  front = https.createServer({ key: await readFile(path.join(dir, 'srv.key')), cert: await readFile(path.join(dir, 'srv.pem')) }, (req, res) => {
    const f = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    f.on('error', () => res.end());
    req.pipe(f);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontUrl = `https://127.0.0.1:${(front.address() as { port: number }).port}/`;
});
afterAll(async () => {
  front?.closeAllConnections();
  await new Promise<void>((r) => (front ? front.close(() => r()) : r()));
  await radicale?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('carddav over TLS with a private CA', () => {
  it('discovers and syncs with caFile; without it the server certificate is refused', async () => {
    const book = await makeAddressBook(`${radicale.home('alice')}tls/`, ALICE);
    await new DavUser(book, ALICE).put('a.vcf', 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:Ann A\r\nN:A;Ann;;;\r\nEND:VCARD\r\n');
    const caFile = path.join(dir, 'ca.pem');
    const found = await resolveCarddavSpoke({ url: frontUrl, username: 'alice', password: ALICE.password, addressBookName: 'tls', caFile });
    expect(found.addressBook).toBe(`${frontUrl}alice/tls/`);
    expect(found.authScheme).toBe('basic');

    const env = { now: Date.now, defaultRegion: 'DE', auth: { username: 'alice', password: ALICE.password } };
    const withCa = carddavConnectorFactory.create(carddavConnectorFactory.parseConfig({ url: frontUrl, addressBook: found.addressBook, caFile }), env);
    const ids: string[] = [];
    for await (const p of withCa.pull({ cursor: null, knownEtags: noKnownEtags })) ids.push(...p.items.map((i) => i.id));
    expect(ids).toEqual(['a.vcf']);

    const without = carddavConnectorFactory.create(carddavConnectorFactory.parseConfig({ url: frontUrl, addressBook: found.addressBook }), env);
    // The HttpClient retries network errors with backoff; the first failure is enough here.
    const err = await without.get('a.vcf').catch((e: unknown) => e);
    expect(isConnectorError(err, 'transient')).toBe(true);
    expect(String((err as Error).message) + String((err as Error & { cause?: { cause?: unknown } }).cause?.cause ?? '')).toMatch(/certificate|fetch failed/i);
  });
});
