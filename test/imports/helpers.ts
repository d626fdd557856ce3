import { afterAll, beforeAll } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startImportRunner, type ImportRunner } from "../../src/imports/runner.ts";
import type { ImportJob } from "../../src/generated/prisma/client.ts";
import { waitFor } from "../support/wait.ts";

export const JOB_FIELDS = `id kind format mode atomic status rowsTotal rowsImported rowsSkipped rowsRejected progress errorMessage fileName
  createdBy { email } createdAt finishedAt errors(first: 100) { totalCount edges { node { line field code message } } }`;

export interface JobView {
  id: string;
  status: string;
  rowsTotal: number;
  rowsImported: number;
  rowsSkipped: number;
  rowsRejected: number;
  errorMessage: string | null;
  errors: { totalCount: number; edges: { node: { line: number; field: string | null; code: string; message: string } }[] };
  [key: string]: unknown;
}

const MUTATION = {
  ACCOUNTS: "importAccounts",
  SUBSCRIPTIONS: "importSubscriptions",
  USAGE: "importUsage",
} as const;

/** Sends `content` as a GraphQL multipart upload; returns the mutation's payload (job or error). */
export async function upload(
  t: TestApp,
  kind: keyof typeof MUTATION,
  format: "CSV" | "NDJSON",
  content: string,
  options: { mode?: "CREATE" | "UPSERT"; atomic?: boolean; token?: string | null } = {},
): Promise<{ status: number; body: { data?: Record<string, Record<string, unknown>>; errors?: { message: string; extensions?: { code?: string } }[] } }> {
  const field = MUTATION[kind];
  const modeVariable = kind === "USAGE" ? "" : ", $mode: ImportMode";
  const modeArgument = kind === "USAGE" ? "" : ", mode: $mode";
  const query = `mutation Import($file: File!, $format: ImportFormat!${modeVariable}, $atomic: Boolean) {
    ${field}(file: $file, format: $format${modeArgument}, atomic: $atomic) {
      __typename
      ... on ImportJob { id status }
      ... on Error { code message }
    }
  }`;
  const form = new FormData();
  form.set("operations", JSON.stringify({ query, variables: { file: null, format, mode: options.mode, atomic: options.atomic } }));
  form.set("map", JSON.stringify({ "0": ["variables.file"] }));
  form.set("0", new File([content], format === "CSV" ? "rows.csv" : "rows.ndjson", { type: "application/octet-stream" }));
  const token = options.token === undefined ? t.tokens.operator : options.token;
  const response = await t.yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: form,
  });
  return { status: response.status, body: (await response.json()) as never };
}

/** Uploads and returns the job's id (the upload must be accepted). */
export async function startUpload(
  t: TestApp,
  kind: keyof typeof MUTATION,
  format: "CSV" | "NDJSON",
  content: string,
  options: Parameters<typeof upload>[4] = {},
): Promise<string> {
  const { body } = await upload(t, kind, format, content, options);
  const payload = body.data?.[MUTATION[kind]];
  if (!payload || payload.__typename !== "ImportJob") throw new Error(`upload refused: ${JSON.stringify(body)}`);
  return payload.id as string;
}

/** Waits (deadline `timeoutMs`) until the job has finished, then reads it through the API. */
export async function finished(t: TestApp, id: string, timeoutMs = 60_000): Promise<JobView> {
  let job: ImportJob | null = null;
  await waitFor(
    () => `import ${id} to finish (still ${job?.status})`,
    async () => {
      job = await t.app.db.importJob.findUnique({ where: { id } });
      return job?.status === "COMPLETED" || job?.status === "FAILED";
    },
    timeoutMs,
  );
  const result = await t.gql<{ importJob: JobView }, { id: string }>(`query Job($id: ID!) { importJob(id: $id) { ${JOB_FIELDS} } }`, { id });
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!.importJob;
}

export async function importAndWait(
  t: TestApp,
  kind: keyof typeof MUTATION,
  format: "CSV" | "NDJSON",
  content: string,
  options: Parameters<typeof upload>[4] = {},
) {
  return finished(t, await startUpload(t, kind, format, content, options));
}

export const errorsOf = (job: JobView) => job.errors.edges.map((e) => e.node);

export const csv = (...lines: string[]) => lines.join("\n") + "\n";
export const ndjson = (...rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

/** Gives the calling test file a test app with an import runner (polling every 100 ms), handed to `use` before its tests and stopped after them. */
export function withImportRunner(use: (t: TestApp) => void): void {
  let t: TestApp | undefined;
  let runner: ImportRunner | undefined;
  beforeAll(async () => {
    t = await createTestApp();
    runner = startImportRunner(t.app, { pollMs: 100 });
    use(t);
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.close();
  });
}

/** Reads `read()` every 20 ms until `ok` holds, and returns that value; past `timeoutMs`, fails naming `what` and the value last read. */
export async function until<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  let last: T | undefined;
  const found = await waitFor(
    () => `${what}: still ${JSON.stringify(last, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`,
    async () => {
      last = await read();
      // Wrapped: a value that is itself false or null can be what the caller waits for.
      return ok(last) ? { value: last } : null;
    },
    timeoutMs,
    20,
  );
  return found.value;
}
