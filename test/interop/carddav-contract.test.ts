/**
 * The shared connector contract, run by the CardDAV spoke against real Radicale and Xandikos
 * servers. Each test gets a fresh address book (extended MKCOL); the "user" is another client
 * writing to the server directly.
 */
import { afterAll, beforeAll } from 'vitest';
import { carddavConnectorFactory } from '../../src/connectors/carddav/carddav-connector.js';
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import { toVCard } from '../../src/model/vcard.js';
import { DavUser, makeAddressBook, startRadicale, startXandikos, type DavServer, type Login } from '../support/dav-servers.js';

const UNKNOWN = 'X-CONTRACT-SUITE:kept';
let radicale: DavServer;
let xandikos: DavServer;
let books = 0;

beforeAll(async () => {
  [radicale, xandikos] = await Promise.all([startRadicale(), startXandikos()]);
});
afterAll(async () => {
  await Promise.all([radicale?.stop(), xandikos?.stop()]);
});

function unfold(t: string): string {
  return t.replace(/\r?\n[ \t]/g, '');
}

async function harness(server: () => DavServer, login: Login | null, version: '3.0' | '4.0' = '3.0'): Promise<ContractHarness> {
  const s = server();
  const book = await makeAddressBook(`${s.home(login?.username ?? 'user')}contract-${++books}/`, login);
  const user = new DavUser(book, login);
  const connector = carddavConnectorFactory.create(carddavConnectorFactory.parseConfig({ url: book, addressBook: book, version }), {
    now: Date.now,
    defaultRegion: 'DE',
    auth: { username: login?.username ?? 'nobody', password: login?.password ?? 'unused' },
  });
  let seq = 0;
  return {
    connector,
    userCreate: async (card) => {
      const id = `user-${++seq}.vcf`;
      await user.put(id, toVCard(card, { version: '3.0' }));
      return id;
    },
    userUpdate: async (id, card) => {
      // A person editing a contact keeps its UID (Radicale answers 409 to a PUT that changes it).
      const uid = /^UID:(.*)$/im.exec(unfold((await user.get(id))?.text ?? ''))?.[1]?.trim();
      await user.put(id, toVCard(uid ? { ...card, uid } : card, { version: '3.0' }));
    },
    userDelete: (id) => user.delete(id),
    count: async () => (await user.list()).length,
    userSetUnknownProperty: async (id) => {
      const cur = await user.get(id);
      if (cur === null) throw new Error(`${id} is gone`);
      await user.put(id, cur.text.replace(/END:VCARD\s*$/i, `${UNKNOWN}\r\nEND:VCARD\r\n`));
      return true;
    },
    hasUnknownProperty: async (id) => unfold((await user.get(id))?.text ?? '').split(/\r?\n/).includes(UNKNOWN),
    // Neither server can hold a broken item a client could read: Radicale refuses a non-vCard
    // (400); Xandikos stores it but leaves it out of sync-collection and answers 404 to a multiget
    // of it (checked by hand on 0.2.8). The connector's handling of unreadable items is covered
    // with a scripted server in test/connectors/carddav.test.ts.
    userCreateBroken: async () => null,
    cleanup: async () => {
      await connector.close?.();
    },
  };
}

describeConnectorContract('carddav on Radicale 3 (Basic auth, vCard 3.0 creates)', () => harness(() => radicale, { username: 'alice', password: 'alicepw' }));
describeConnectorContract('carddav on Radicale 3 (vCard 4.0 creates)', () => harness(() => radicale, { username: 'bob', password: 'bobpw' }, '4.0'));
describeConnectorContract('carddav on Xandikos', () => harness(() => xandikos, null));
