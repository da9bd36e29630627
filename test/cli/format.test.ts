/**
 * The CLI's tables and problem lines: what a person reads in a terminal, where widths are columns
 * (a CJK character takes two) and a long value a person wrote must not push every row apart.
 */
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { MAX_CELL_WIDTH, cell, isCut, table } from '../../src/cli/format.js';
import { problemLine } from '../../src/engine/run/report.js';

describe('table cells', () => {
  it.each([
    ['a short value stays as it is', 'Initech', 'Initech'],
    ['line breaks become ⏎, so that a row stays one line', 'Met at a conference.\r\nSecond line\nthird', 'Met at a conference.⏎Second line⏎third'],
    ['tabs and other control characters become spaces', 'a\tb\u0007c', 'a b c'],
  ])('%s', (_what, input, shown) => {
    expect(cell(input)).toBe(shown);
    expect(isCut(input)).toBe(false);
  });

  it('a value longer than the widest cell is cut, ending in …, to exactly the width', () => {
    const note = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit; '.repeat(20);
    expect(isCut(note)).toBe(true);
    expect(cell(note)).toMatch(/^Lorem ipsum dolor sit amet.*…$/);
    expect(stringWidth(cell(note))).toBe(MAX_CELL_WIDTH);
  });

  it('counts terminal columns: a CJK value is cut at half the characters and never mid-character', () => {
    const company = '株式会社サンプル'.repeat(10); // 80 characters, 160 columns
    expect(cell(company, 21)).toBe('株式会社サンプル株式…'); // 10 characters, 20 columns, and the …
    // One column short of a character: the character is left out rather than split.
    expect(cell(company, 20)).toBe('株式会社サンプル株…');
    expect(stringWidth(cell(company, 20))).toBe(19);
    // An emoji made of several code points (a family) is one grapheme: kept whole or dropped whole.
    expect(cell('ab👨‍👩‍👧cd', 3)).toBe('ab…');
  });
});

describe('table', () => {
  it('pads by terminal columns, so rows with CJK names line up', () => {
    const out = table(['NAME', 'ORG'], [['李 秀英', 'a'], ['Ann Lee', 'b']]).split('\n');
    const orgColumn = out.map((l) => stringWidth(l.slice(0, l.lastIndexOf(' ') + 1)));
    expect(new Set(orgColumn).size).toBe(1);
  });

  it('one long value no longer widens every row: all columns but the last are cut', () => {
    const note = 'x'.repeat(500);
    const out = table(['ID', 'KEPT', 'LOST'], [['1', note, note], ['2', 'short', 'short']]).split('\n');
    expect(stringWidth(out[2] ?? '')).toBeLessThan(MAX_CELL_WIDTH + 20);
    // The last column is not padded, so its value is shown whole on its own row.
    expect(out[1]?.endsWith(note)).toBe(true);
  });
});

describe('problemLine', () => {
  it('does not repeat the item when the message starts with it', () => {
    expect(problemLine({ item: 'a.vcf', field: 'TEL', message: 'a.vcf: "+33 337 9542828" is not a valid phone number (kept as written)' })).toBe(
      'a.vcf [TEL]: "+33 337 9542828" is not a valid phone number (kept as written)',
    );
  });
  it('prints a message that names the item further on as it is', () => {
    expect(problemLine({ item: 'b.vcf', message: 'b.vcf is not a readable vCard (no BEGIN:VCARD); the file is left untouched' })).toBe(
      'b.vcf is not a readable vCard (no BEGIN:VCARD); the file is left untouched',
    );
  });
  it('names the item when the message does not', () => {
    expect(problemLine({ item: 'people/c1', field: 'email', message: 'not an e-mail address: "ann@"' })).toBe('people/c1 [email]: not an e-mail address: "ann@"');
  });
});
