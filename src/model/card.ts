/**
 * The hub's canonical contact: a JSContact Card (RFC 9553), restricted to the properties Hubsync
 * syncs. Property names and value shapes follow the RFC so that a Card can be handed to any
 * JSContact consumer as it is; vCard conversion follows RFC 9555.
 *
 * Maps keyed by an `Id` (RFC 9553 §1.4.1) use ids that are stable for a given value (see
 * `fields.ts`), so the same contact always serialises to the same JSON.
 */

export type Id = string;
/** RFC 9553 §1.4.4: "work", "private" and friends; a map of context name to `true`. */
export type Contexts = Partial<Record<string, true>>;

export interface NameComponent {
  /** RFC 9553 §2.2.1.2: title, given, given2, surname, surname2, credential, generation, separator. */
  kind: 'title' | 'given' | 'given2' | 'surname' | 'surname2' | 'credential' | 'generation' | 'separator';
  value: string;
}

export interface Name {
  components?: NameComponent[];
  full?: string;
  isOrdered?: boolean;
}

export interface EmailAddress { address: string; contexts?: Contexts; pref?: number; label?: string }
export interface Phone {
  number: string;
  /** RFC 9553 §2.3.3: mobile, voice, fax, pager, text, video, textphone, main-number. */
  features?: Partial<Record<string, true>>;
  contexts?: Contexts;
  pref?: number;
  label?: string;
}
export interface AddressComponent {
  /** RFC 9553 §2.5.1.2 (subset): name (street line), locality, region, postcode, country, postOfficeBox, apartment. */
  kind: string;
  value: string;
}
export interface Address {
  components?: AddressComponent[];
  full?: string;
  countryCode?: string;
  contexts?: Contexts;
  pref?: number;
  label?: string;
}
export interface Link { uri: string; kind?: string; contexts?: Contexts; pref?: number; label?: string }
export interface OnlineService { service?: string; uri?: string; user?: string; contexts?: Contexts; pref?: number; label?: string }
export interface Organization { name?: string; units?: { name: string }[] }
export interface Title { name: string; kind?: 'title' | 'role'; organizationId?: Id }
export interface Nickname { name: string }
export interface Note { note: string }
export interface Media { kind: 'photo' | 'sound' | 'logo'; uri: string; mediaType?: string }
export interface PartialDate { year?: number; month?: number; day?: number }
export interface Anniversary { kind: 'birth' | 'death' | 'wedding' | string; date: PartialDate }

export interface Card {
  '@type': 'Card';
  version: '1.0';
  uid: string;
  kind?: 'individual' | 'group' | 'org' | 'location' | 'device' | 'application';
  name?: Name;
  nicknames?: Record<Id, Nickname>;
  organizations?: Record<Id, Organization>;
  titles?: Record<Id, Title>;
  emails?: Record<Id, EmailAddress>;
  phones?: Record<Id, Phone>;
  addresses?: Record<Id, Address>;
  links?: Record<Id, Link>;
  onlineServices?: Record<Id, OnlineService>;
  notes?: Record<Id, Note>;
  media?: Record<Id, Media>;
  anniversaries?: Record<Id, Anniversary>;
  /** RFC 9553 §2.5.4: categories/labels as a set of keywords. */
  keywords?: Partial<Record<string, true>>;
  /** RFC 9553 §2.1.9 `updated` (UTCDateTime), mapped from vCard REV. */
  updated?: string;
}

/**
 * An empty `keywords` map. Its keys are people's own words, and on a plain object
 * `map['__proto__'] = true` sets the prototype instead of adding a key: a category of that name
 * was dropped when a vCard was read.
 */
export function keywordMap(): Partial<Record<string, true>> {
  return Object.create(null) as Partial<Record<string, true>>;
}
