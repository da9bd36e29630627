/**
 * The Google Contacts connector passes the shared connector contract against the Google emulator.
 * User-side edits go straight to the emulator's state, as someone editing in Google Contacts would.
 */
import { describeConnectorContract, type ContractHarness } from '../../src/connectors/kit/contract-suite.js';
import { cardToPerson, GOOGLE_FIELDS, updateMask } from '../../src/connectors/google-people/mapping.js';
import type { UserState } from '../../src/emulators/google/state.js';
import { googleRig } from './google-support.js';

const ALL_MASK = updateMask(GOOGLE_FIELDS).filter((f) => f !== 'memberships');

function harness(opts: { pageSize?: number }): () => Promise<ContractHarness> {
  return async () => {
    const rig = await googleRig({ users: [{ email: 'ada@example.org' }] }, opts);
    const state = rig.emu.state;
    const user = state.userByEmail(rig.email) as UserState;
    const rid = (id: string) => id.replace(/^people\//, '');
    return {
      connector: rig.connector,
      userCreate: async (card) => `people/${state.createContact(user, cardToPerson(card, [])).id}`,
      userUpdate: async (id, card) => {
        const rec = state.current(user, rid(id));
        if (!rec) throw new Error(`no ${id}`);
        state.updateContact(user, rid(id), { ...cardToPerson(card, []), etag: state.etagOf(rec) }, ALL_MASK);
      },
      userDelete: async (id) => state.deleteContact(user, rid(id)),
      count: async () => [...user.contacts.keys()].filter((id) => state.current(user, id)).length,
      userSetUnknownProperty: async (id) => {
        const rec = state.current(user, rid(id));
        if (!rec) return false;
        // `userDefined`: "Arbitrary user data that is populated by the end users" — not in the model.
        state.updateContact(user, rid(id), { etag: state.etagOf(rec), userDefined: [{ key: 'shoe size', value: '43' }] }, ['userDefined']);
        return true;
      },
      hasUnknownProperty: async (id) => {
        const rec = state.current(user, rid(id));
        return !!rec && state.latest(rec).person?.userDefined?.[0]?.value === '43';
      },
      userCreateBroken: async () => {
        // A person whose shape the schema does not allow (names must be a list): only an API bug
        // could send it, so it is planted behind the API's back.
        const rec = state.createContact(user, { names: [{ givenName: 'Broken' }] });
        (state.latest(rec).person as Record<string, unknown>).names = 'not a list';
        return `people/${rec.id}`;
      },
      expireCursors: async () => state.expireSyncTokens(),
      cleanup: () => rig.close(),
    };
  };
}

describeConnectorContract('google-contacts (People API emulator)', harness({}));
describeConnectorContract('google-contacts (People API emulator, pages of 3)', harness({ pageSize: 3 }));
