import { afterEach, describe, expect, it } from 'vitest';
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import type { PullPage } from '../../src/connectors/kit/contract.js';
import { M365GalConnector, parseM365GalConfig } from '../../src/connectors/m365-gal/m365-gal-connector.js';
import { startMicrosoftEmulator, type MicrosoftEmulator } from '../../src/emulators/microsoft/server.js';
import type { Card } from '../../src/model/card.js';
import type { SeedUser } from '../../src/emulators/microsoft/state.js';
import { noKnownEtags } from '../../src/connectors/kit/known-etags.js';

const CLIENT = '11111111-2222-4333-8444-555555555555';

async function emulator(users: SeedUser[] = []): Promise<MicrosoftEmulator> {
  return startMicrosoftEmulator({
    seed: { tenant: { domain: 'contoso.example' }, apps: [{ clientId: CLIENT, clientSecret: 's', consented: true }], users },
  });
}

function gal(emu: MicrosoftEmulator, raw: Record<string, unknown> = {}): M365GalConnector {
  const token = emu.identity.issueAppToken(CLIENT);
  return new M365GalConnector(parseM365GalConfig({ account: 'contoso', orgContacts: 'false', ...raw }), {
    now: Date.now,
    defaultRegion: 'US',
    auth: { accessToken: async () => token },
    graphUrl: emu.url,
  });
}

function userOf(card: Card): SeedUser {
  const given = card.name?.components?.find((c) => c.kind === 'given')?.value;
  const surname = card.name?.components?.find((c) => c.kind === 'surname')?.value;
  const mail = Object.values(card.emails ?? {})[0]?.address ?? null;
  return { userPrincipalName: `${given ?? 'x'}.${Math.random().toString(36).slice(2)}@contoso.example`, givenName: given, surname, displayName: [given, surname].join(' '), mail, mailbox: 'none' };
}

async function harness(): Promise<ContractHarness> {
  const emu = await emulator();
  const connector = gal(emu);
  const extra = new Set<string>();
  return {
    connector,
    userCreate: async (card) => `user:${emu.state.addUser(userOf(card)).id}`,
    userUpdate: async (id, card) => {
      const { userPrincipalName: _u, mailbox: _m, ...patch } = userOf(card);
      emu.state.updateUser(id.slice(5), patch);
    },
    userDelete: async (id) => emu.state.deleteUser(id.slice(5)),
    count: async () => [...emu.state.users.values()].filter((u) => typeof u.mail === 'string' && u.mail !== '' && u.accountEnabled !== false).length,
    // A directory attribute the GAL does not map (employeeId).
    userSetUnknownProperty: async (id) => {
      emu.state.updateUser(id.slice(5), { employeeId: 'E-1' });
      extra.add(id);
      return true;
    },
    hasUnknownProperty: async (id) => emu.state.users.get(id.slice(5))?.employeeId === 'E-1',
    userCreateBroken: async () => `user:${emu.state.addUser({ userPrincipalName: 'broken@contoso.example', mail: 'broken@contoso.example', businessPhones: 'not-a-list' as unknown as string[], mailbox: 'none' }).id}`,
    expireCursors: async () => emu.state.expireDeltaTokens(),
    cleanup: () => emu.close(),
  };
}

describeConnectorContract('m365-gal (directory, Graph emulator)', harness);

describe('m365-gal conditions', () => {
  let emu: MicrosoftEmulator;
  afterEach(async () => {
    await emu?.close();
  });

  async function listed(c: M365GalConnector, cursor: string | null = null): Promise<PullPage[]> {
    const pages: PullPage[] = [];
    for await (const p of c.pull({ cursor, knownEtags: noKnownEtags })) pages.push(p);
    return pages;
  }
  const mails = (pages: PullPage[]) => pages.flatMap((p) => p.items.map((i) => Object.values(i.card.emails ?? {})[0]?.address)).sort();

  it('leaves out rooms, shared mailboxes, disabled accounts and people without mail; filters by department and domain', async () => {
    emu = await emulator([
      { userPrincipalName: 'ann@contoso.example', givenName: 'Ann', surname: 'Sales', department: 'Sales', businessPhones: ['+1 425 555 0100'], mobilePhone: '+1 425 555 0199', jobTitle: 'Rep', officeLocation: '18/2111' },
      { userPrincipalName: 'bob@contoso.example', givenName: 'Bob', surname: 'Eng', department: 'Engineering' },
      { userPrincipalName: 'cat@fabrikam.example', givenName: 'Cat', surname: 'Other', department: 'Sales' },
      { userPrincipalName: 'room@contoso.example', displayName: 'Board room', mailbox: 'room', accountEnabled: false },
      { userPrincipalName: 'shared@contoso.example', displayName: 'Helpdesk', mailbox: 'shared', accountEnabled: false },
      { userPrincipalName: 'left@contoso.example', givenName: 'Left', surname: 'Company', accountEnabled: false },
      { userPrincipalName: 'nomail@contoso.example', givenName: 'No', surname: 'Mail', mail: null },
    ]);
    expect(mails(await listed(gal(emu)))).toEqual(['ann@contoso.example', 'bob@contoso.example', 'cat@fabrikam.example']);
    expect(mails(await listed(gal(emu, { departments: 'sales' })))).toEqual(['ann@contoso.example', 'cat@fabrikam.example']);
    expect(mails(await listed(gal(emu, { domains: 'contoso.example' })))).toEqual(['ann@contoso.example', 'bob@contoso.example']);
    // Rooms are known from /places even when disabled accounts are allowed.
    expect(mails(await listed(gal(emu, { enabledOnly: 'false' })))).toEqual(['ann@contoso.example', 'bob@contoso.example', 'cat@fabrikam.example', 'left@contoso.example', 'shared@contoso.example']);
    const ann = (await listed(gal(emu))).flatMap((p) => p.items).find((i) => i.card.emails?.e1?.address === 'ann@contoso.example');
    expect(ann?.card).toMatchObject({ titles: { t1: { name: 'Rep' } }, organizations: { o1: { units: [{ name: 'Sales' }] } } });
    expect(Object.values(ann?.card.phones ?? {}).map((p) => p.number).sort()).toEqual(['+1 425 555 0100', '+1 425 555 0199']);
  });

  it('a user who is disabled or leaves the department is deleted from this list in the next incremental pull', async () => {
    emu = await emulator([
      { id: 'u-ann', userPrincipalName: 'ann@contoso.example', givenName: 'Ann', surname: 'S', department: 'Sales' },
      { id: 'u-bob', userPrincipalName: 'bob@contoso.example', givenName: 'Bob', surname: 'S', department: 'Sales' },
    ]);
    const c = gal(emu, { departments: 'Sales' });
    const cursor = (await listed(c)).at(-1)?.cursor ?? null;
    emu.state.updateUser('u-ann', { accountEnabled: false });
    emu.state.updateUser('u-bob', { department: 'Engineering' });
    const inc = await listed(c, cursor);
    expect(inc.flatMap((p) => p.deleted).sort()).toEqual(['user:u-ann', 'user:u-bob']);
  });

  it('includes organisational contacts when asked, and a no-change incremental pull is one request (both delta links in one $batch)', async () => {
    emu = await emulator([{ userPrincipalName: 'ann@contoso.example', givenName: 'Ann', surname: 'S' }]);
    emu.state.addOrgContact({ givenName: 'Partner', surname: 'Person', mail: 'p@partner.example', phones: [{ type: 'business', number: '+1 206 555 0100' }] });
    const c = gal(emu, { orgContacts: 'true' });
    const first = await listed(c);
    expect(mails(first)).toEqual(['ann@contoso.example', 'p@partner.example']);
    emu.counts.reset();
    const again = await listed(c, first.at(-1)?.cursor ?? null);
    expect(again.flatMap((p) => p.items)).toEqual([]);
    expect(emu.counts.graphRequests).toBe(1);
    expect(emu.counts.get('POST /$batch')).toBe(1);
  });

  it('an updated user delivered with only the changed properties is read whole, not taken as gone', async () => {
    emu = await emulator([{ id: 'u-ann', userPrincipalName: 'ann@contoso.example', givenName: 'Ann', surname: 'S', department: 'Sales' }]);
    emu.graph.minimalDeltaUpdates = true;
    const c = gal(emu);
    const cursor = (await listed(c)).at(-1)?.cursor ?? null;
    emu.state.updateUser('u-ann', { jobTitle: 'Lead' });
    const inc = await listed(c, cursor);
    expect(inc.flatMap((p) => p.deleted)).toEqual([]);
    expect(inc.flatMap((p) => p.items)[0]?.card).toMatchObject({ emails: { e1: { address: 'ann@contoso.example' } }, titles: { t1: { name: 'Lead' } } });
  });

  it('never writes: create, update and delete are refused', async () => {
    emu = await emulator([{ id: 'u1', userPrincipalName: 'ann@contoso.example', givenName: 'Ann' }]);
    const c = gal(emu);
    await expect(c.delete('user:u1', { ifMatch: null })).rejects.toMatchObject({ kind: 'permission', message: /read-only/ });
    expect(emu.counts.graphRequests).toBe(0);
  });
});
