import { describe, expect, it } from 'vitest';
import { inScope, parseCondition } from '../../src/engine/plan/conditions.js';
import type { Fields } from '../../src/model/fields.js';

const f: Fields = {
  s: { 'org.name': 'Société Générale', 'org.unit': 'Sales', title: 'Account Manager' },
  m: { emails: { 'ann@acme.example': { address: 'Ann@ACME.example' }, 'ann@home.example': { address: 'ann@home.example' } }, keywords: { golf: { name: 'Golf' } } },
};

describe('spoke conditions', () => {
  it.each([
    ['email-domain = acme.example', true],
    ['email-domain = other.example', false],
    ['email-domain != other.example', true],
    ['email-domain != home.example', false],
    ['company = societe generale', true],
    ['company ~ GÉNÉ', true],
    ['department = Sales', true],
    ['department != Sales', false],
    ['category = golf', true],
    ['category ~ tennis', false],
    ['title ~ manager', true],
  ])('%s → %s', (src, expected) => {
    expect(inScope(f, [parseCondition(src)])).toBe(expected);
  });

  it('needs every condition', () => {
    expect(inScope(f, [parseCondition('company ~ societe'), parseCondition('department = Legal')])).toBe(false);
  });

  it('explains a bad condition, naming it', () => {
    expect(() => parseCondition('colour = red')).toThrow(/unknown field "colour".*email-domain/);
    expect(() => parseCondition('company')).toThrow(/Invalid condition "company"/);
  });
});
