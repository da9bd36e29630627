/**
 * Which parts of a Card each field path lives in, so the memory spoke can model a provider that
 * stores only some fields: reads show only the supported parts, and an update replaces only them,
 * keeping everything else the backend holds.
 *
 * The unit is a *slice*: the part of a Card that one or more field paths are read from. Most slices
 * are one Card property (`emails`, `notes`); some are the entries of a property of one kind (name
 * components of kind `given`, titles of kind `role`, anniversaries of kind `birth`, media of kind
 * `photo`). A slice that carries several paths (`organizations` holds `org.name` and `org.unit`) is
 * supported, and replaced as a whole, when any of its paths is supported: the memory model is coarse
 * there on purpose, real providers split fields the same way (one "organization" object).
 *
 * The slices follow the projection in `model/card-fields.ts` (generations go with `name.credential`,
 * `anniversary` is the wedding date). Parts of a Card that no field path covers (`uid`, `updated`,
 * `separator` name components, `name.isOrdered`, anniversaries other than birth and wedding, media
 * other than photos) are not model fields: an update never
 * replaces them, even when the spoke supports `'all'` paths. That is what "the engine never wipes
 * what it does not know" means for the memory spoke.
 *
 * Pure functions; inputs are never mutated.
 */
import type { Anniversary, Card, Media, NameComponent, Title } from '../../model/card.js';
import type { FieldPath } from '../../model/fields.js';

interface Slice {
  /** The slice is part of the spoke's model when any of these paths is supported. */
  paths: readonly FieldPath[];
  /** Removes the slice's content from `card` (in place; `card` is a private copy). */
  clear(card: Card): void;
  /** Copies the slice's content of `from` into `to` (in place), after `clear(to)`. */
  copy(from: Card, to: Card): void;
  /** True when `card` holds something in this slice. */
  has(card: Card): boolean;
}

type MapProp = 'nicknames' | 'organizations' | 'emails' | 'phones' | 'addresses' | 'links' | 'onlineServices' | 'notes';

/** A whole Card property holding a map (or set) of values. */
function mapSlice(prop: MapProp | 'keywords', paths: readonly FieldPath[]): Slice {
  return {
    paths,
    clear(card) {
      delete card[prop];
    },
    copy(from, to) {
      const v = from[prop];
      if (v !== undefined && Object.keys(v).length > 0) {
        // The cast is sound: `v` was read from the same property of another Card.
        (to as unknown as Record<string, unknown>)[prop] = structuredClone(v);
      }
    },
    has(card) {
      const v = card[prop];
      return v !== undefined && Object.keys(v).length > 0;
    },
  };
}

/** The entries of a keyed property whose `kind` satisfies `test`. */
function kindSlice<T extends { kind?: string }>(
  prop: 'titles' | 'anniversaries' | 'media',
  test: (kind: string | undefined) => boolean,
  paths: readonly FieldPath[],
): Slice {
  const get = (card: Card): Record<string, T> | undefined =>
    card[prop] as Record<string, T> | undefined;
  const set = (card: Card, v: Record<string, T>): void => {
    if (Object.keys(v).length === 0) delete card[prop];
    else (card as unknown as Record<string, unknown>)[prop] = v;
  };
  return {
    paths,
    clear(card) {
      const v = get(card);
      if (v === undefined) return;
      set(card, Object.fromEntries(Object.entries(v).filter(([, e]) => !test(e.kind))));
    },
    copy(from, to) {
      const src = get(from);
      if (src === undefined) return;
      const picked = Object.entries(src).filter(([, e]) => test(e.kind));
      if (picked.length === 0) return;
      set(to, { ...(get(to) ?? {}), ...structuredClone(Object.fromEntries(picked)) });
    },
    has(card) {
      return Object.values(get(card) ?? {}).some((e) => test(e.kind));
    },
  };
}

/** Drops a `name` left with neither components nor a full name (its `isOrdered` means nothing then). */
function tidyName(card: Card): void {
  const n = card.name;
  if (n === undefined) return;
  if (n.components !== undefined && n.components.length === 0) delete n.components;
  if (n.components === undefined && n.full === undefined) delete card.name;
}

/** Name components of `kinds` (one path may read several kinds: `name.credential` takes generations). */
function componentSlice(kinds: readonly NameComponent['kind'][], path: FieldPath): Slice {
  const test = (c: NameComponent): boolean => kinds.includes(c.kind);
  return {
    paths: [path],
    clear(card) {
      const n = card.name;
      if (n?.components === undefined) return;
      n.components = n.components.filter((c) => !test(c));
      tidyName(card);
    },
    copy(from, to) {
      const picked = (from.name?.components ?? []).filter(test);
      if (picked.length === 0) return;
      // Appended after the components kept: order only matters with `isOrdered`, which the model
      // does not sync (RFC 9553 §2.2.1.2 orders components by kind otherwise).
      const name = (to.name ??= {});
      name.components = [...(name.components ?? []), ...structuredClone(picked)];
    },
    has(card) {
      return (card.name?.components ?? []).some(test);
    },
  };
}

const SLICES: readonly Slice[] = [
  {
    paths: ['kind'],
    clear(card) {
      delete card.kind;
    },
    copy(from, to) {
      if (from.kind !== undefined) to.kind = from.kind;
    },
    has(card) {
      return card.kind !== undefined;
    },
  },
  {
    paths: ['name.full'],
    clear(card) {
      if (card.name !== undefined) {
        delete card.name.full;
        tidyName(card);
      }
    },
    copy(from, to) {
      const full = from.name?.full;
      if (full !== undefined) (to.name ??= {}).full = full;
    },
    has(card) {
      return card.name?.full !== undefined;
    },
  },
  componentSlice(['title'], 'name.title'),
  componentSlice(['given'], 'name.given'),
  componentSlice(['given2'], 'name.given2'),
  componentSlice(['surname'], 'name.surname'),
  componentSlice(['surname2'], 'name.surname2'),
  // As in `card-fields.ts`: vCard carries generations in the honorific suffix (RFC 9555 §2.3.4).
  componentSlice(['credential', 'generation'], 'name.credential'),
  mapSlice('nicknames', ['nickname']),
  mapSlice('organizations', ['org.name', 'org.unit']),
  kindSlice<Title>('titles', (k) => k !== 'role', ['title']),
  kindSlice<Title>('titles', (k) => k === 'role', ['role']),
  kindSlice<Anniversary>('anniversaries', (k) => k === 'birth', ['birthday']),
  kindSlice<Anniversary>('anniversaries', (k) => k === 'wedding', ['anniversary']),
  mapSlice('notes', ['note']),
  kindSlice<Media>('media', (k) => k === 'photo', ['photo']),
  mapSlice('emails', ['emails']),
  mapSlice('phones', ['phones']),
  mapSlice('addresses', ['addresses']),
  mapSlice('links', ['links']),
  mapSlice('onlineServices', ['online']),
  mapSlice('keywords', ['keywords']),
];

function supportedSlices(fields: 'all' | readonly FieldPath[]): readonly Slice[] {
  if (fields === 'all') return SLICES;
  return SLICES.filter((s) => s.paths.some((p) => fields.includes(p)));
}

/**
 * What a spoke storing only `fields` shows of `card`: the Card's identity (`@type`, `version`, `uid`)
 * plus the supported slices. With `'all'`, the whole Card (a copy).
 */
export function pickFields(card: Card, fields: 'all' | readonly FieldPath[]): Card {
  if (fields === 'all') return structuredClone(card);
  const out: Card = { '@type': 'Card', version: card.version, uid: card.uid };
  for (const s of supportedSlices(fields)) s.copy(card, out);
  return out;
}

/**
 * `stored` with the slices of `fields` replaced by those of `incoming`; everything else (unsupported
 * slices, parts no path covers, and the `uid`, which like a CardDAV UID never changes once stored)
 * is kept from `stored`.
 */
export function overlayFields(stored: Card, incoming: Card, fields: 'all' | readonly FieldPath[]): Card {
  const out = structuredClone(stored);
  for (const s of supportedSlices(fields)) {
    s.clear(out);
    s.copy(incoming, out);
  }
  return out;
}

/** The field paths of slices that hold content in `card` but are not in `fields` (empty with `'all'`). */
export function unsupportedContent(card: Card, fields: 'all' | readonly FieldPath[]): FieldPath[] {
  if (fields === 'all') return [];
  const supported = new Set(supportedSlices(fields));
  return SLICES.filter((s) => !supported.has(s) && s.has(card)).flatMap((s) => s.paths);
}
