import type pg from "pg";

export type Sql = pg.PoolClient;

/** Runs `work` in one transaction on a pooled connection; rolls back on any error. */
export async function transaction<T>(pool: pg.Pool, work: (client: Sql) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
