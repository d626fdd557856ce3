import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print, type ExecutionResult } from "graphql";
import { startApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createUser, ensureAdmin } from "../../src/auth/users.ts";
import { createGraphQLServer, type Yoga } from "../../src/graphql/yoga.ts";
import { createLogger } from "../../src/log.ts";
import { createTestDatabase } from "./db.ts";

export interface TestApp {
  app: App;
  yoga: Yoga;
  databaseUrl: string;
  tokens: { admin: string; operator: string; viewer: string };
  /** Every SQL statement Prisma sent, for query-count assertions. */
  queries: string[];
  gql: <R, V>(document: TypedDocumentNode<R, V> | string, variables?: V, token?: string | null) => Promise<ExecutionResult<R>>;
  close: () => Promise<void>;
}

export const ADMIN_TOKEN = "brt_test_admin_token_0123456789";

/** The real service (Yoga, Prisma, PostgreSQL) on a database of its own, called in-process. */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", BILLRUN_DATA_DIR: "/tmp/billrun-test-data", ...env });
  const queries: string[] = [];
  const app = await startApp(config, database.url, createLogger(process.env.TEST_LOG_LEVEL ?? "silent"), { onQuery: (sql) => queries.push(sql) });
  const yoga = createGraphQLServer(app);
  await ensureAdmin(app.db, ADMIN_TOKEN);
  const operator = await createUser(app.db, { email: "operator@example.com", name: "Olivia Operator", role: "OPERATOR" });
  const viewer = await createUser(app.db, { email: "viewer@example.com", name: "Victor Viewer", role: "VIEWER" });
  const tokens = { admin: ADMIN_TOKEN, operator: operator.token, viewer: viewer.token };

  return {
    app,
    yoga,
    databaseUrl: database.url,
    tokens,
    queries,
    gql: async (document, variables, token = tokens.admin) => {
      const response = await yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query: typeof document === "string" ? document : print(document), variables }),
      });
      return (await response.json()) as ExecutionResult<never>;
    },
    close: async () => {
      await app.close();
      await database.drop();
    },
  };
}
