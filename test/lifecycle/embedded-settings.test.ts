// The embedded cluster that keeps its data runs with WAL and memory settings sized for bill runs
// of a million accounts, and keeps PostgreSQL's durability; throw-away clusters keep theirs.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableSettings, startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.ts";

const GB = 2 ** 30;

describe("durableSettings", () => {
  it("gives shared_buffers a quarter of the memory, between 128 MB and 1 GB", () => {
    expect(durableSettings(256 * 2 ** 20).shared_buffers).toBe("128MB");
    expect(durableSettings(2 * GB).shared_buffers).toBe("512MB");
    expect(durableSettings(24 * GB).shared_buffers).toBe("1024MB");
  });

  it("spaces checkpoints by WAL volume and time, never by turning durability off", () => {
    const settings = durableSettings(8 * GB);
    expect(settings).toMatchObject({ max_wal_size: "4GB", min_wal_size: "1GB", checkpoint_timeout: "15min" });
    for (const name of ["fsync", "synchronous_commit", "full_page_writes"]) expect(settings).not.toHaveProperty(name);
  });
});

describe("a cluster that keeps its data", () => {
  let dir: string;
  let database: EmbeddedDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "billrun-settings-"));
    database = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), temporary: true });
    client = new pg.Client({ connectionString: database.url() });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await database?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function setting(name: string): Promise<string> {
    const result = await client.query<{ value: string }>("SELECT current_setting($1) AS value", [name]);
    return result.rows[0]!.value;
  }

  it("runs with the sized settings and full durability", async () => {
    const expected = durableSettings();
    expect(await setting("max_wal_size")).toBe(expected.max_wal_size);
    expect(await setting("min_wal_size")).toBe(expected.min_wal_size);
    expect(await setting("checkpoint_timeout")).toBe(expected.checkpoint_timeout);
    const sharedBuffers = await client.query<{ mb: number }>("SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576 AS mb");
    expect(`${sharedBuffers.rows[0]!.mb}MB`).toBe(expected.shared_buffers);
    expect(await setting("fsync")).toBe("on");
    expect(await setting("synchronous_commit")).toBe("on");
    expect(await setting("full_page_writes")).toBe("on");
  });
});
