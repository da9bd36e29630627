import { describe, expect, it } from 'vitest';
import type { Card } from '../../src/model/card.js';
import {
  addressKey, emailKey, foldName, isPlausiblePhone, keywordKey, nameKey, onlineKey, phoneKey, rawKey, urlKey,
} from '../../src/model/normalize.js';

const card = (name: Card['name']): Card => ({ '@type': 'Card', version: '1.0', uid: 'u', name });

describe('emailKey', () => {
  it.each([
    ['ann@example.com', 'ann@example.com'],
    ['Ann.Lee@Example.COM', 'ann.lee@example.com'],
    ['  ann@example.com \t', 'ann@example.com'],
    ['mailto:Ann@Example.com', 'ann@example.com'],
    ['MAILTO:ann@example.com?subject=Hello', 'ann@example.com'],
    ['ÄÖ@Bücher.example', 'äö@xn--bcher-kva.example'],
    ['ann@BÜCHER.example', 'ann@xn--bcher-kva.example'],
    // NFD input (A + combining diaeresis) gives the same key as NFC.
    ['A\u0308@example.com', 'ä@example.com'],
    ['ann@example.com.', 'ann@example.com'],
    ['"ann@home"@example.com', '"ann@home"@example.com'],
    ['ann+tag@gmail.com', 'ann+tag@gmail.com'], // Gmail tags are not folded (weak signal only)
  ])('%j → %j', (input, key) => {
    expect(emailKey(input)).toBe(key);
  });

  it.each(['', '   ', 'ann', 'ann@', '@example.com', 'ann lee@example.com', 'ann@exa mple.com', 'a@b@c.org', 'mailto:', 'ann@[1.2.3'])(
    '%j is not an e-mail',
    (input) => {
      expect(emailKey(input)).toBeNull();
    },
  );
});

describe('phoneKey', () => {
  it.each([
    // [input, region, key]
    ['06 12 34 56 78', 'FR', '+33612345678'],
    ['06.12.34.56.78', 'FR', '+33612345678'],
    ['+33 6 12 34 56 78', 'FR', '+33612345678'],
    ['+33 6 12 34 56 78', 'US', '+33612345678'],
    ['0033 6 12 34 56 78', 'FR', '+33612345678'],
    ['+33 (0)6 12 34 56 78', 'FR', '+33612345678'],
    ['(212) 555-0123', 'US', '+12125550123'],
    ['212.555.0123', 'US', '+12125550123'],
    ['+1 212 555 0123', 'FR', '+12125550123'],
    ['1-212-555-0123', 'US', '+12125550123'],
    ['212-555-0123 ext. 45', 'US', '+12125550123;ext=45'],
    ['(212) 555-0123 x45', 'US', '+12125550123;ext=45'],
    ['tel:+1-212-555-0123;ext=45', 'US', '+12125550123;ext=45'],
    ['TEL:+33612345678', 'US', '+33612345678'],
    ['us', 'us', ''],
    // National numbers read with the wrong region are not forced into E.164: they keep their digits.
    ['212 555 0123', 'FR', '2125550123'],
    // Unknown region: only international numbers become E.164.
    ['+33 6 12 34 56 78', 'ZZ', '+33612345678'],
    ['06 12 34 56 78', 'ZZ', '0612345678'],
    ['06 12 34 56 78', '', '0612345678'],
    ['06 12 34 56 78', 'fr', '+33612345678'],
    // A national number must be valid for the region (a possible length is not enough).
    ['06 12 34 56 78', 'US', '0612345678'],
    ['(555) 123-4567', 'US', '5551234567'],
    ['+1 555 123 4567', 'US', '+15551234567'],
    // Junk stays distinct: digits with their leading +.
    ['112', 'FR', '112'],
    ['+12', 'US', '+12'],
    ['ext 12', 'US', '12'],
    ['n/a', 'US', ''],
    ['', 'US', ''],
  ])('%j in %s → %j', (input, region, key) => {
    expect(phoneKey(input, region)).toBe(key);
  });

  it('never throws', () => {
    for (const s of ['+', '++', 'tel:', '\u0000', '9'.repeat(500), '+1 (((', 'ext', '٠٦١٢٣٤٥٦٧٨']) {
      expect(() => phoneKey(s, 'US')).not.toThrow();
      expect(() => phoneKey(s, '!!')).not.toThrow();
    }
  });

  it('memoises without changing results', () => {
    const a = phoneKey('06 12 34 56 78', 'FR');
    const b = phoneKey('06 12 34 56 78', 'FR');
    expect(a).toBe(b);
    expect(phoneKey('06 12 34 56 78', 'BE')).not.toBe(a);
  });

  it('isPlausiblePhone', () => {
    expect(isPlausiblePhone('06 12 34 56 78', 'FR')).toBe(true);
    expect(isPlausiblePhone('112', 'FR')).toBe(false);
    expect(isPlausiblePhone('garbage', 'FR')).toBe(false);
  });
});

describe('foldName', () => {
  it.each([
    ['Ann Lee', 'ann lee'],
    ['  Ann \t  Lee  ', 'ann lee'],
    ['Ann\u00a0Lee', 'ann lee'], // no-break space
    ['José', 'jose'],
    ['Jose\u0301', 'jose'], // NFD: e + combining acute
    ['ÉCOLE', 'ecole'],
    ['Ｊｏｓé', 'jose'], // fullwidth letters (NFKC)
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['KIRIKKALE', 'kirikkale'],
    ['Kırıkkale', 'kirikkale'], // Turkish dotless ı
    ['İstanbul', 'istanbul'], // Turkish dotted capital İ
    ['ISTANBUL', 'istanbul'],
    ['Ann\u200bLee', 'annlee'], // zero-width space
    ['An\u200dn', 'ann'], // zero-width joiner
    ['\ufeffAnn', 'ann'], // BOM
    ['Ann\u00adLee', 'annlee'], // soft hyphen
    ['\u200fمحمد\u200f', 'محمد'], // RTL marks
    ['مُحَمَّد', 'محمد'], // Arabic harakat are combining marks
    ['ΟΔΥΣΣΕΥΣ', 'οδυσσευσ'], // final sigma folds to sigma
    ['Οδυσσευς', 'οδυσσευσ'],
    ['Łukasz Wiśniewski', 'łukasz wisniewski'], // ł has no decomposition: kept
    ['山田 太郎', '山田 太郎'],
    ['😀 Ann', '😀 ann'],
    ['Ann ❤️', 'ann ❤'], // the variation selector is a mark
    ['', ''],
  ])('%j → %j', (input, folded) => {
    expect(foldName(input)).toBe(folded);
  });

  it('NFC and NFD spellings fold equal', () => {
    for (const s of ['Zoë Weiß', 'Ólafur Þórðarson', 'Hélène Dubois-Château', 'Søren Kierkegård', '한국어 이름']) {
      expect(foldName(s.normalize('NFD'))).toBe(foldName(s.normalize('NFC')));
    }
  });
});

describe('nameKey', () => {
  it('sorts the given and surname tokens', () => {
    const a = nameKey(card({ components: [{ kind: 'given', value: 'John' }, { kind: 'surname', value: 'Smith' }] }));
    const b = nameKey(card({ components: [{ kind: 'surname', value: 'SMITH' }, { kind: 'given', value: 'john' }] }));
    const c = nameKey(card({ full: 'Smith John' }));
    expect(a).toBe('john smith');
    expect(b).toBe(a);
    expect(c).toBe(a);
  });

  it('ignores titles, middle names and credentials', () => {
    const k = nameKey(card({
      components: [
        { kind: 'title', value: 'Dr.' }, { kind: 'given', value: 'John' }, { kind: 'given2', value: 'Q.' },
        { kind: 'surname', value: 'Smith' }, { kind: 'credential', value: 'PhD' },
      ],
      full: 'Dr. John Q. Smith, PhD',
    }));
    expect(k).toBe('john smith');
  });

  it('treats hyphens and diacritics loosely and keeps both surnames', () => {
    expect(nameKey(card({ full: 'Hélène Dubois-Château' }))).toBe(nameKey(card({ full: 'helene dubois chateau' })));
    const twoSurnames = nameKey(card({ components: [{ kind: 'given', value: 'Ana' }, { kind: 'surname', value: 'García' }, { kind: 'surname2', value: 'López' }] }));
    expect(twoSurnames).toBe(nameKey(card({ full: 'Ana García López' })));
  });

  it('is null without a name', () => {
    expect(nameKey({ '@type': 'Card', version: '1.0', uid: 'u' })).toBeNull();
    expect(nameKey(card({ full: '  ' }))).toBeNull();
    expect(nameKey(card({ components: [{ kind: 'title', value: 'Dr.' }] }))).toBeNull();
  });
});

describe('urlKey', () => {
  it.each([
    ['http://Example.com/', 'example.com'],
    ['https://example.com', 'example.com'],
    ['example.com', 'example.com'],
    ['www.Example.com/Path/To', 'www.example.com/Path/To'],
    ['https://example.com:443/a?b=1#c', 'example.com/a?b=1#c'],
    ['http://example.com:8080/a/', 'example.com:8080/a/'],
    ['example.com:8080/x', 'example.com:8080/x'],
    ['https://bücher.example/x', 'xn--bcher-kva.example/x'],
    ['https://example.com/a/../b', 'example.com/b'],
    ['ftp://Files.Example.org/a', 'ftp://files.example.org/a'],
    ['mailto:Ann@Example.com', 'mailto:Ann@Example.com'],
  ])('%j → %j', (input, key) => {
    expect(urlKey(input)).toBe(key);
  });

  it.each(['', '   ', 'http://', 'https:// /x', 'http://exa mple.com'])('%j is not a URL', (input) => {
    expect(urlKey(input)).toBeNull();
  });
});

describe('addressKey', () => {
  it('is independent of case, spacing, diacritics and component order', () => {
    const a = addressKey({ components: [{ kind: 'name', value: '1 Hauptstraße' }, { kind: 'locality', value: 'München' }, { kind: 'country', value: 'Deutschland' }] });
    const b = addressKey({ components: [{ kind: 'country', value: 'DEUTSCHLAND' }, { kind: 'locality', value: 'Munchen ' }, { kind: 'name', value: '1  HAUPTSTRASSE' }] });
    expect(a).toBe('name=1 hauptstrasse | locality=munchen | country=deutschland');
    expect(b).toBe(a);
  });

  it('falls back to the full text, and is null when there is none', () => {
    expect(addressKey({ full: '1 Main St\nSpringfield' })).toBe('full=1 main st springfield');
    expect(addressKey({ components: [{ kind: 'name', value: ' ' }], full: '' })).toBeNull();
    expect(addressKey({})).toBeNull();
  });

  it('skips separators and joins repeated kinds', () => {
    expect(addressKey({
      components: [{ kind: 'number', value: '54321' }, { kind: 'separator', value: ' ' }, { kind: 'name', value: 'Oak St' }, { kind: 'name', value: 'Bldg 4' }],
    })).toBe('number=54321 | name=oak st bldg 4');
  });
});

describe('keywordKey, onlineKey, rawKey', () => {
  it('keywordKey folds', () => {
    expect(keywordKey(' Friends ')).toBe('friends');
    expect(keywordKey('FRIENDS')).toBe('friends');
    expect(keywordKey(' ')).toBeNull();
  });

  it('onlineKey uses the URI, else service and user', () => {
    expect(onlineKey({ uri: ' xmpp:Ann@Example.org ' })).toBe('xmpp:ann@example.org');
    expect(onlineKey({ service: 'Skype', user: 'Ann.Lee' })).toBe('skype:ann.lee');
    expect(onlineKey({ service: 'Skype', user: 'ann.lee' })).toBe(onlineKey({ uri: 'skype:ann.lee' }));
    expect(onlineKey({ user: 'ann' })).toBe(':ann');
    expect(onlineKey({ service: 'Skype' })).toBeNull();
  });

  it('rawKey trims', () => {
    expect(rawKey('  not an address ')).toBe('raw:not an address');
  });
});
