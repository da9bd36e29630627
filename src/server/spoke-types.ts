/**
 * How the wizard offers each spoke type, derived from its connector factory: a factory with an
 * `accountProvider` gets "Sign in with …" and "Invite"; one without asks for its settings. The
 * settings a type asks for come from the table below until ConnectorFactory can declare them
 * itself (proposed: `configFields?: ConfigField[]` on ConnectorFactory, see docs/web.md); a type
 * missing from the table gets a generic "key = value" box, so a new type needs no new UI code.
 */
import type { ConnectorFactory } from '../connectors/kit/contract.js';

export interface ConfigField {
  key: string;
  kind: 'text' | 'path' | 'checkbox';
  required: boolean;
  /** Message keys (src/server/i18n.ts) for the label and the hint under the field. */
  labelKey: string;
  hintKey?: string;
}

const CONFIG_FIELDS: Record<string, ConfigField[]> = {
  vdir: [
    { key: 'path', kind: 'path', required: true, labelKey: 'field.vdir.path', hintKey: 'field.vdir.path.hint' },
    { key: 'createMissing', kind: 'checkbox', required: false, labelKey: 'field.vdir.createMissing' },
  ],
  carddav: [
    { key: 'url', kind: 'text', required: true, labelKey: 'field.carddav.url', hintKey: 'field.carddav.url.hint' },
    { key: 'addressBookName', kind: 'text', required: false, labelKey: 'field.carddav.addressBookName', hintKey: 'field.carddav.addressBookName.hint' },
  ],
};

export interface SpokeTypeView {
  type: string;
  label: string;
  /** The object it syncs; every type is a contacts type until a calendar contract exists. */
  object: 'contacts' | 'calendar';
  accountProvider?: string;
  /**
   * How the account is connected: `oauth` (the provider has a sign-in: "Sign in with …" or invite),
   * `password` (an account provider without one, e.g. CardDAV: user name and password with the
   * settings), `none` (no account: only the settings).
   */
  signIn: 'oauth' | 'password' | 'none';
  readOnly: boolean;
  /** Settings asked in the wizard (null: the generic "name = value" box). */
  configFields: ConfigField[] | null;
}

export function spokeTypeView(f: ConnectorFactory, oauthProviders: ReadonlySet<string> = new Set()): SpokeTypeView {
  const object = (f as { object?: unknown }).object === 'calendar' ? 'calendar' : 'contacts';
  const signIn = !f.accountProvider ? 'none' : oauthProviders.has(f.accountProvider) || ['google', 'microsoft'].includes(f.accountProvider) ? 'oauth' : 'password';
  return {
    type: f.type,
    label: f.label,
    object,
    ...(f.accountProvider ? { accountProvider: f.accountProvider } : {}),
    signIn,
    readOnly: f.capabilities.readOnly,
    configFields: signIn === 'oauth' ? [] : (CONFIG_FIELDS[f.type] ?? null),
  };
}

/** Reads the settings form of a type without an account provider into raw connector settings. */
export function configFromForm(view: SpokeTypeView, body: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  if (view.configFields === null) {
    // Generic: one `key = value` per line.
    for (const line of String(body.settings ?? '').split(/\r?\n/)) {
      const i = line.indexOf('=');
      if (i <= 0) continue;
      raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return raw;
  }
  for (const f of view.configFields) {
    const v = body[`cfg_${f.key}`];
    if (f.kind === 'checkbox') {
      if (v !== undefined && v !== '') raw[f.key] = true;
    } else if (typeof v === 'string' && v.trim() !== '') {
      raw[f.key] = v.trim();
    }
  }
  return raw;
}
