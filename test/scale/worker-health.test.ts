import { afterAll, beforeAll, expect, it } from "vitest";
import { startHealthServer, type HttpServer } from "../../src/http.ts";
import { createTestApp, type TestApp } from "../support/app.ts";

let t: TestApp;
let health: HttpServer;
beforeAll(async () => {
  t = await createTestApp();
  health = await startHealthServer(t.app, 0, "127.0.0.1");
});
afterAll(async () => {
  await health.close();
  await t.close();
});

const get = async (path: string) => {
  const response = await fetch(`${health.url}${path}`);
  return { status: response.status, body: (await response.json()) as { status: string } };
};

it("a worker's /health answers while it lives; /ready when the database and the job queue answer, 503 once it stops", async () => {
  expect(await get("/health")).toEqual({ status: 200, body: { status: "ok" } });
  expect(await get("/ready")).toEqual({ status: 200, body: { status: "ready" } });
  expect((await get("/graphql")).status).toBe(404);
  // pg-boss's own connections: a queue that cannot be read makes the worker unready.
  await t.app.jobs.boss.stop({ graceful: false, wait: true });
  const unready = await get("/ready");
  expect(unready.status).toBe(503);
  expect(unready.body.status).toBe("unreachable");
  health.drain();
  expect(await get("/ready")).toEqual({ status: 503, body: { status: "stopping" } });
  expect((await get("/health")).status).toBe(200);
});
