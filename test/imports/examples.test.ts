import { readFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { type TestApp } from "../support/app.ts";
import { errorsOf, importAndWait, withImportRunner } from "./helpers.ts";

let t: TestApp;
withImportRunner((app) => (t = app));

const example = (name: string) => readFile(new URL(`../../docs/examples/${name}`, import.meta.url), "utf8");

it("imports every example file of docs/examples without a rejected row", async () => {
  const files = [
    ["ACCOUNTS", "accounts.csv", 3],
    ["ACCOUNTS", "accounts.ndjson", 3],
    ["SUBSCRIPTIONS", "subscriptions.csv", 6],
    ["SUBSCRIPTIONS", "subscriptions.ndjson", 3],
    ["USAGE", "usage.csv", 3],
    ["USAGE", "usage.ndjson", 2],
  ] as const;
  for (const [kind, file, rows] of files) {
    const job = await importAndWait(t, kind, file.endsWith(".csv") ? "CSV" : "NDJSON", await example(file));
    expect({ file, status: job.status, errors: errorsOf(job) }).toEqual({ file, status: "COMPLETED", errors: [] });
    expect(job.rowsImported).toBe(rows);
  }
  const s = await t.app.db.subscription.findUniqueOrThrow({
    where: { subscriptionNumber: "EX-S-1002" },
    include: { charges: { orderBy: { position: "asc" } } },
  });
  expect(s.charges.map((c) => [c.name, c.price.toString(), c.startDate.toISOString().slice(0, 10)])).toEqual([
    ["Support", "1200", "2026-02-15"],
    ["Loyalty credit", "-10", "2026-03-15"],
  ]);
  expect((await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "EX-1002" } })).name).toBe("Müller & Söhne, GmbH");
});
