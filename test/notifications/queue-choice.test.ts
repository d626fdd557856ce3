// Why email is delivered from the email_outbox table rather than as pg-boss jobs (docs/decisions.md,
// "Email"): an email is queued under a key once for good (`invoice:<document id>`,
// `billrun:<id>:<status>`), also when the change that queues it happens again after the first email
// went out (a posting that stopped half-way and is posted again queues its first invoices again).
// pg-boss's singletonKey forgets a key once its job is done, under every queue policy, and
// singletonSeconds only within one time slot: the second queuing would be a second email.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type PgBoss from "pg-boss";
import { createTestApp, type TestApp } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";

let t: TestApp;
let boss: PgBoss;
beforeAll(async () => {
  t = await createTestApp();
  boss = t.app.jobs.boss;
});
afterAll(async () => {
  await t?.close();
});

/** Queues "the email" of `key`, as a status change would; the job's id, or null when pg-boss refused it as a duplicate. */
const queueEmail = (queue: string, key: string, options: PgBoss.SendOptions = {}) => boss.send(queue, { dedupeKey: key }, { singletonKey: key, ...options });

/** A sender takes the job and sends the email: the job is done. */
async function sendIt(queue: string): Promise<void> {
  const [job] = await boss.fetch(queue);
  expect(job).toBeTruthy();
  await boss.complete(queue, job!.id);
}

describe("pg-boss as the email queue", () => {
  for (const policy of ["standard", "short", "singleton", "stately"] as const) {
    it(`(${policy} policy) queues an email a second time once the first was sent`, async () => {
      const queue = `email-probe-${policy}`;
      await boss.createQueue(queue, { name: queue, policy });
      const key = "invoice:00000000-0000-4000-8000-000000000001";
      expect(await queueEmail(queue, key)).toBeTruthy();
      await sendIt(queue);
      // The same invoice queued again (posted in a second posting of its run): a second email.
      expect(await queueEmail(queue, key)).toBeTruthy();
      await sendIt(queue);
    });
  }

  it("(short policy) refuses a duplicate only while the first still waits", async () => {
    const queue = "email-probe-short-waiting";
    await boss.createQueue(queue, { name: queue, policy: "short" });
    const key = "billrun:00000000-0000-4000-8000-000000000002:COMPLETED";
    expect(await queueEmail(queue, key)).toBeTruthy();
    expect(await queueEmail(queue, key)).toBeNull();
    await sendIt(queue);
    expect(await queueEmail(queue, key)).toBeTruthy();
  });

  it("(singletonSeconds) refuses a duplicate only within its time slot", async () => {
    const queue = "email-probe-slot";
    await boss.createQueue(queue, { name: queue });
    const key = "billrun:00000000-0000-4000-8000-000000000003:COMPLETED";
    expect(await queueEmail(queue, key, { singletonSeconds: 1 })).toBeTruthy();
    await sendIt(queue);
    // In the next slot (at most a second later) the same key is queued again.
    const again = await waitFor("the key queued again in the next slot", () => queueEmail(queue, key, { singletonSeconds: 1 }), 5_000);
    expect(again).toBeTruthy();
  });
});

describe("the email outbox", () => {
  it("queues a key once for good: queuing it again after it was sent adds nothing", async () => {
    const key = "billrun:00000000-0000-4000-8000-000000000004:COMPLETED";
    const queue = () =>
      t.app.pool.query(
        `INSERT INTO email_outbox (id, dedupe_key, kind, to_address, payload) VALUES (gen_random_uuid(), $1, 'BILL_RUN_STATUS', 'ops@example.com', '{}')
         ON CONFLICT (dedupe_key) DO NOTHING`,
        [key],
      );
    expect((await queue()).rowCount).toBe(1);
    await t.app.pool.query("UPDATE email_outbox SET status = 'SENT', sent_at = now() WHERE dedupe_key = $1", [key]);
    expect((await queue()).rowCount).toBe(0);
    const rows = await t.app.pool.query("SELECT status FROM email_outbox WHERE dedupe_key = $1", [key]);
    expect(rows.rows).toEqual([{ status: "SENT" }]);
  });
});
