/**
 * Multi-row INSERTs for the engine's bulk writes (contacts, identity keys, journal rows, links,
 * intents), with the SQL text made directly instead of through Kysely's query builder.
 *
 * Why: Kysely turns every value of a `values([...])` call into an operation node and compiles the
 * tree back to text, for each statement; with 200–500 rows of 10 columns that was about 4 % of a
 * first sync's main thread (parseInsertExpression, the compiler's visitors), for a text that is the
 * same every time for a given table and row count — which also lets SQLite's statement cache
 * (open.ts) reuse the prepared statement. The statement is still run through Kysely
 * (`executeQuery`), so it joins the caller's transaction and works on both dialects.
 */
import { CompiledQuery, type Kysely, type Insertable, type Transaction } from 'kysely';
import type { Schema } from './schema.js';

type Db = Kysely<Schema> | Transaction<Schema>;

/** `?` (SQLite) or `$n` (PostgreSQL): asked of Kysely once per connection object. */
const numbered = new WeakMap<object, boolean>();

function usesNumberedParams(db: Db): boolean {
  let n = numbered.get(db);
  if (n === undefined) {
    n = db.selectFrom('hubs').select('id').where('id', '=', '').compile().sql.includes('$1');
    numbered.set(db, n);
  }
  return n;
}

const texts = new Map<string, string>();

function insertText(table: string, columns: readonly string[], rows: number, numberedParams: boolean, suffix: string): string {
  const key = `${table}\n${columns.join(',')}\n${rows}\n${numberedParams ? 1 : 0}\n${suffix}`;
  let text = texts.get(key);
  if (text === undefined) {
    const tuples: string[] = [];
    let n = 0;
    for (let r = 0; r < rows; r++) tuples.push(`(${columns.map(() => (numberedParams ? `$${++n}` : '?')).join(', ')})`);
    text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${tuples.join(', ')}${suffix}`;
    // A few tables, each with its full statement and power-of-two remainders (below).
    if (texts.size >= 256) texts.clear();
    texts.set(key, text);
  }
  return text;
}

/**
 * Inserts `rows` (all with the same columns, those of the first row) in statements of
 * `perStatement` rows, and what is left in statements of power-of-two sizes (137 rows: 128, 8, 1),
 * so that a table has a handful of statement texts rather than one per row count: each is prepared
 * once and kept by the statement cache, where a text per remainder would fill it with large
 * statements used once. `onConflict` is appended verbatim to each statement (an upsert clause that
 * both dialects read the same way).
 */
export async function insertRows<T extends keyof Schema & string>(
  db: Db,
  table: T,
  rows: readonly Insertable<Schema[T]>[],
  perStatement: number,
  onConflict = '',
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const numberedParams = usesNumberedParams(db);
  for (let start = 0; start < rows.length; ) {
    const left = rows.length - start;
    const end = start + (left >= perStatement ? perStatement : 2 ** Math.floor(Math.log2(left)));
    const params: unknown[] = [];
    for (let i = start; i < end; i++) {
      const row = rows[i] as Record<string, unknown>;
      if (Object.keys(row).length !== columns.length) throw new Error(`insertRows(${table}): row ${i} has other columns than the first`);
      for (const c of columns) {
        const v = row[c];
        if (v === undefined) throw new Error(`insertRows(${table}): row ${i} has no ${c}`);
        params.push(v);
      }
    }
    await db.executeQuery(CompiledQuery.raw(insertText(table, columns, end - start, numberedParams, onConflict), params));
    start = end;
  }
}

/** `on conflict (keys) do update set` every other column to the inserted row's value. */
export function upsertClause(keys: readonly string[], columns: readonly string[]): string {
  const sets = columns.filter((c) => !keys.includes(c)).map((c) => `"${c}" = excluded."${c}"`);
  return ` on conflict (${keys.map((k) => `"${k}"`).join(', ')}) do update set ${sets.join(', ')}`;
}
