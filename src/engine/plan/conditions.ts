/**
 * Conditions that filter which contacts a spoke receives, e.g.
 *   `email-domain = example.com`, `company = Acme`, `department != Sales`, `category ~ golf`.
 * A contact is sent to the spoke when it meets every condition of that spoke. `=` and `!=` compare
 * case- and accent-insensitively; `~` is "contains". For multi-valued fields (e-mails, categories)
 * `=` and `~` hold when any value matches, `!=` when none does.
 */
import type { Fields } from '../../model/fields.js';
import { foldName } from '../../model/normalize.js';

export const CONDITION_FIELDS = ['email-domain', 'company', 'department', 'category', 'title'] as const;
export type ConditionField = (typeof CONDITION_FIELDS)[number];
export type ConditionOp = '=' | '!=' | '~';

export interface Condition {
  field: ConditionField;
  op: ConditionOp;
  value: string;
  source: string;
}

export function parseCondition(source: string): Condition {
  const m = /^\s*([a-z-]+)\s*(!=|=|~)\s*(.+?)\s*$/.exec(source);
  if (!m) {
    throw new Error(`Invalid condition "${source}": write FIELD = VALUE, FIELD != VALUE or FIELD ~ TEXT, e.g. "email-domain = example.com".`);
  }
  const [, field = '', op = '=', value = ''] = m;
  if (!(CONDITION_FIELDS as readonly string[]).includes(field)) {
    throw new Error(`Invalid condition "${source}": unknown field "${field}" (use one of ${CONDITION_FIELDS.join(', ')}).`);
  }
  return { field: field as ConditionField, op: op as ConditionOp, value: value.replace(/^"(.*)"$/, '$1'), source };
}

function valuesOf(f: Fields, field: ConditionField): string[] {
  switch (field) {
    case 'email-domain':
      return Object.keys(f.m.emails ?? {}).map((k) => k.slice(k.lastIndexOf('@') + 1));
    case 'company':
      return f.s['org.name'] ? [f.s['org.name']] : [];
    case 'department':
      return f.s['org.unit'] ? [f.s['org.unit']] : [];
    case 'title':
      return f.s.title ? [f.s.title] : [];
    case 'category':
      return Object.values(f.m.keywords ?? {}).map((a) => String(a.name ?? ''));
  }
}

export function meetsCondition(f: Fields, c: Condition): boolean {
  const want = foldName(c.value);
  const have = valuesOf(f, c.field).map(foldName);
  switch (c.op) {
    case '=':
      return have.includes(want);
    case '!=':
      return !have.includes(want);
    case '~':
      return have.some((h) => h.includes(want));
  }
}

export function inScope(f: Fields, conditions: readonly Condition[]): boolean {
  return conditions.every((c) => meetsCondition(f, c));
}
