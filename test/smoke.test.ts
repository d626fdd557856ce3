import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./support/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

it("answers me for a valid token", async () => {
  const result = await t.gql<{ me: { email: string; role: string } }, never>("{ me { email role } }");
  expect(result.data?.me).toEqual({ email: "admin@localhost", role: "ADMIN" });
});
