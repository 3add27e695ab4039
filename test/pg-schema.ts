/**
 * PostgreSQL for tests: the machine's server (127.0.0.1:5432, trust auth, database `test`, or
 * LOOP_TEST_PG_URL), one new schema per caller, dropped after the test, so that test files running in
 * parallel never see each other's tables. A server that is down fails the test with the fix in the
 * message: it is never skipped.
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';

/** Where the tests' PostgreSQL is. */
export const pgBaseUrl = process.env.LOOP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgSchema {
  /** The schema's name. */
  schema: string;
  /** A URL whose connections use only this schema (`options=-c search_path=<schema>`). */
  url: string;
  /** Runs SQL on an administrative connection (search_path set to the schema). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

/** The URL of `schema` on the test server. */
export function schemaUrl(schema: string, base = pgBaseUrl): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.href;
}

/** A new, empty schema on the test server, dropped (with everything in it) after the test. */
export async function freshPgSchema(t: TestContext, prefix = 'httploop_test'): Promise<PgSchema> {
  const schema = `${prefix}_${process.pid}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgBaseUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => {});
    throw new Error(
      `PostgreSQL is not reachable at ${pgBaseUrl} (${(err as Error).message}); these tests need it: start it ` +
        '(pg_ctlcluster 15 main start, as .ci/run does) or point LOOP_TEST_PG_URL at one',
      { cause: err },
    );
  }
  admin.on('error', () => {}); // a broken admin connection fails the next query; it must not end the process
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.query(`SET search_path TO "${schema}"`);
  t.after(async () => {
    try {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  });
  return {
    schema,
    url: schemaUrl(schema),
    query: async (sql, params) => (await admin.query(sql, params)).rows,
  };
}
