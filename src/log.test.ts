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
