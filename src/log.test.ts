import { Writable } from "node:stream";
import pg from "pg";
import { expect, inject, it } from "vitest";
import { createLogger } from "./log.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { log: createLogger("info", "test", stream), text: () => lines.join("") };
}

it("drops connection objects from errors and hides passwords and tokens", async () => {
  const url = new URL(inject("pgAdminUrl"));
  url.password = "pw-never-logged";
  const client = new pg.Client({ connectionString: url.toString() });
  const error = await client.connect().then(
    () => null,
    (e: Error) => e,
  );
  expect(error).not.toBeNull();
  // pg's errors and pool events can carry the client, whose parameters hold the password.
  Object.assign(error!, { client, connection: { password: "pw-never-logged" } });
  const { log, text } = capture();
  log.error({ err: error }, "failed");
  log.error({ err: new Error(`connecting to ${url.toString()} failed`) }, "failed again");
  log.info({ token: "tok-never-logged", user: { password: "pw2-never-logged" }, headers: { authorization: "Bearer tok2-never-logged" } }, "request");
  const output = text();
  expect(output).toContain("password authentication failed");
  expect(output).toContain(":***@");
  for (const secret of ["pw-never-logged", "tok-never-logged", "pw2-never-logged", "tok2-never-logged"]) expect(output).not.toContain(secret);
  expect(JSON.parse(output.split("\n")[0]!).err.client).toBeUndefined();
});

it("adds the fields of the job in progress to every line, whatever logger writes it", async () => {
  const { log, text } = capture();
  const { withLogFields } = await import("./log.ts");
  log.info("before");
  await withLogFields({ billRunId: "run-1", queue: "billrun-chunk" }, async () => {
    await Promise.resolve();
    log.info("inside");
    log.child({ component: "posting" }).warn({ accounts: 3 }, "from a child");
    // What the call passes wins over the scope's field.
    log.info({ billRunId: "run-2" }, "explicit");
    withLogFields({ chunk: 4 }, () => log.info("nested"));
  });
  log.info("after");
  const lines = text()
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const byMessage = Object.fromEntries(lines.map((line) => [line.msg, line]));
  expect(byMessage.before!.billRunId).toBeUndefined();
  expect(byMessage.inside).toMatchObject({ billRunId: "run-1", queue: "billrun-chunk" });
  expect(byMessage["from a child"]).toMatchObject({ billRunId: "run-1", component: "posting", accounts: 3 });
  expect(byMessage.explicit!.billRunId).toBe("run-2");
  expect(lines.filter((line) => line.msg === "explicit")[0]).toBeDefined();
  expect(text()).not.toMatch(/"billRunId":"run-1"[^\n]*"billRunId":"run-2"/);
  expect(byMessage.nested).toMatchObject({ billRunId: "run-1", chunk: 4 });
  expect(byMessage.after!.billRunId).toBeUndefined();
});
