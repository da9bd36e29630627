/**
 * Small builders and readers of Cards for tests. Map ids are positional (`e1`, `p1`, …) and the
 * default `uid` is derived from the content, so a given call always builds the same Card.
 */
import { createHash } from 'node:crypto';
import type { Card, NameComponent } from '../../src/model/card.js';

export interface CardSpec {
  uid?: string;
  given?: string;
  surname?: string;
  full?: string;
  emails?: readonly string[];
  phones?: readonly string[];
  /** Street line, locality, each as one address. */
  addresses?: readonly { street?: string; locality?: string; country?: string }[];
  org?: string;
  note?: string;
  keywords?: readonly string[];
}

/** A Card with the given names, e-mails, phones…; absent parts are left out (not empty). */
export function makeCard(spec: CardSpec = {}): Card {
  const card: Card = { '@type': 'Card', version: '1.0', uid: spec.uid ?? derivedUid(spec) };
  const components: NameComponent[] = [];
  if (spec.given !== undefined) components.push({ kind: 'given', value: spec.given });
  if (spec.surname !== undefined) components.push({ kind: 'surname', value: spec.surname });
  if (components.length > 0 || spec.full !== undefined) {
    card.name = {};
    if (components.length > 0) card.name.components = components;
    if (spec.full !== undefined) card.name.full = spec.full;
  }
  if (spec.emails?.length) card.emails = Object.fromEntries(spec.emails.map((address, i) => [`e${i + 1}`, { address }]));
  if (spec.phones?.length) card.phones = Object.fromEntries(spec.phones.map((number, i) => [`p${i + 1}`, { number }]));
  if (spec.addresses?.length) {
    card.addresses = Object.fromEntries(
      spec.addresses.map((a, i) => {
        const components = [
          ...(a.street === undefined ? [] : [{ kind: 'name', value: a.street }]),
          ...(a.locality === undefined ? [] : [{ kind: 'locality', value: a.locality }]),
          ...(a.country === undefined ? [] : [{ kind: 'country', value: a.country }]),
        ];
        return [`a${i + 1}`, { components }];
      }),
    );
  }
  if (spec.org !== undefined) card.organizations = { o1: { name: spec.org } };
  if (spec.note !== undefined) card.notes = { n1: { note: spec.note } };
  if (spec.keywords?.length) card.keywords = Object.fromEntries(spec.keywords.map((k) => [k, true as const]));
  return card;
}

function derivedUid(spec: CardSpec): string {
  const h = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The value of the first name component of `kind`, if any. */
export function nameComponent(card: Card, kind: NameComponent['kind']): string | undefined {
  return card.name?.components?.find((c) => c.kind === kind)?.value;
}

/** E-mail addresses, sorted. */
export function emailsOf(card: Card): string[] {
  return Object.values(card.emails ?? {}).map((e) => e.address).sort();
}

/** Phone numbers as stored, sorted. */
export function phonesOf(card: Card): string[] {
  return Object.values(card.phones ?? {}).map((p) => p.number).sort();
}

/** Note texts, sorted. */
export function notesOf(card: Card): string[] {
  return Object.values(card.notes ?? {}).map((n) => n.note).sort();
}
