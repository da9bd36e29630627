import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, usePostgres, type TestDatabase } from '../support/postgres.js';

const url = usePostgres();

describe('PostgreSQL test infrastructure', () => {
  it('connects to the injected URL and runs select 1', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number }>('select 1 as one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  describe('createTestDatabase', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase(url);
    });
    afterAll(async () => {
      await db.drop();
    });

    it('gives a file a database of its own, dropped again at the end', async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ db: string }>('select current_database() as db');
        expect(rows[0]?.db).toBe(db.name);
        await client.query('create table t (id int primary key)');
      } finally {
        await client.end();
      }
    });
  });
});
