import { GraphQLError } from "graphql";
import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import { connectionOf, pageOf, plannedPage, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import type { ImportJob, Prisma } from "../../generated/prisma/client.ts";
import type { Context } from "../context.ts";
import { writeThenRead } from "../write-then-read.ts";
import { isUuid } from "../../util.ts";
import { ValidationError } from "../../errors.ts";
import { importProgressFeed, startImport, type ImportProgress } from "../../imports/service.ts";

builder.scalarType("File", {
  description: "A file sent with the request, per the GraphQL multipart request specification (a form field named in `map`).",
  serialize: () => {
    throw new GraphQLError("File is an input type only");
  },
  // Checked by the resolver (a ValidationError on `file`), after authorization: a caller without
  // the role learns FORBIDDEN whatever it sent.
  parseValue: (value) => value as File,
  // No literal is a file: the error carries the literal's node, so it is located and placed like any scalar's.
  parseLiteral: (node) => {
    throw new GraphQLError("File must be an uploaded file: send the request as multipart/form-data (GraphQL multipart request specification)", {
      nodes: node,
    });
  },
});

export const ImportKindEnum = builder.enumType("ImportKind", { values: ["ACCOUNTS", "SUBSCRIPTIONS", "USAGE"] as const });
export const ImportFormatEnum = builder.enumType("ImportFormat", {
  values: {
    CSV: { description: "Comma-separated, a header row naming the columns (the API's field names), RFC 4180 quoting." },
    NDJSON: { description: "One JSON object per line, keyed by the API's field names." },
  } as const,
});
export const ImportModeEnum = builder.enumType("ImportMode", {
  values: {
    CREATE: { description: "Every row creates; a number already taken is a CONFLICT for that row." },
    UPSERT: { description: "Rows naming an existing record update it (accounts) or, when it is already there, change nothing." },
  } as const,
});
export const ImportStatusEnum = builder.enumType("ImportStatus", {
  values: {
    RECEIVING: { description: "The file is being stored." },
    QUEUED: { description: "Stored; waiting for a process to import it." },
    RUNNING: { description: "Being imported, batch by batch." },
    COMPLETED: { description: "Every row read: imported, skipped or rejected (see errors)." },
    FAILED: { description: "Stopped: see errorMessage. Batches committed before stay imported (none, for an atomic import)." },
  } as const,
});

const ImportRowErrorType = builder.prismaObject("ImportJobError", {
  name: "ImportRowError",
  description: "A rejected row: its first problem.",
  fields: (t) => ({
    line: t.exposeInt("line", { description: "Line of the file, 1 being the first (a CSV header's)." }),
    field: t.exposeString("field", { nullable: true, description: "The column at fault, when one is." }),
    code: t.exposeString("code", { description: "VALIDATION, NOT_FOUND, CONFLICT or INVALID_STATE, as the single mutations answer." }),
    message: t.exposeString("message"),
  }),
});

/** A job's rejected rows in file order: a line appears once per job. */
const IMPORT_ROW_ERRORS: KeysetOrder = { name: "ImportJob.errors", keys: [{ field: "line", direction: "asc", type: "int" }] };

/** Jobs newest first; the id orders those created in the same millisecond. */
const IMPORT_JOBS: KeysetOrder = {
  name: "importJobs",
  keys: [
    { field: "createdAt", direction: "desc", type: "timestamp" },
    { field: "id", direction: "desc", type: "uuid" },
  ],
};

const progressOf = (job: Pick<ImportJob, "status" | "sizeBytes" | "bytesDone">) =>
  job.status === "COMPLETED" ? 1 : job.sizeBytes > 0n ? Math.min(1, Number(job.bytesDone) / Number(job.sizeBytes)) : 0;

export const ImportJobType = builder.prismaObject("ImportJob", {
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.expose("kind", { type: ImportKindEnum }),
    format: t.expose("format", { type: ImportFormatEnum }),
    mode: t.expose("mode", { type: ImportModeEnum }),
    atomic: t.exposeBoolean("atomic"),
    status: t.expose("status", { type: ImportStatusEnum }),
    fileName: t.exposeString("fileName", { nullable: true }),
    rowsTotal: t.exposeInt("rowsTotal", { description: "Rows read so far (all of them once the job has finished)." }),
    rowsImported: t.exposeInt("rowsImported", { description: "Rows created or changed." }),
    rowsSkipped: t.exposeInt("rowsSkipped", { description: "Rows already there as the file says (UPSERT, or a usageId sent before): nothing to do." }),
    rowsRejected: t.exposeInt("rowsRejected", { description: "Rows refused; each has an entry in errors." }),
    progress: t.float({
      description: "Share of the file read, 0 to 1.",
      select: { status: true, sizeBytes: true, bytesDone: true },
      resolve: (job) => progressOf(job),
    }),
    errorMessage: t.exposeString("errorMessage", { nullable: true, description: "Why a FAILED job stopped." }),
    errors: t.connection(
      {
        type: ImportRowErrorType,
        description: "Rejected rows, in file order.",
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(IMPORT_ROW_ERRORS, args);
          const query = nestedSelection({ where: page.where, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, errors: withSortKeys(query, IMPORT_ROW_ERRORS), _count: { select: { errors: true } } };
        },
        resolve: (job, args) => {
          const page = pageOf(IMPORT_ROW_ERRORS, job.id, args);
          return connectionOf(IMPORT_ROW_ERRORS, job.id, page, job.errors, () => job._count.errors);
        },
      },
      { name: "ImportRowErrorConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "ImportRowErrorEdge" },
    ),
    createdBy: t.relation("createdBy", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
  }),
});

const ImportJobProgress = builder.objectRef<ImportProgress>("ImportJobProgress").implement({
  description: "A running import's counters.",
  fields: (t) => ({
    importJobId: t.exposeID("id"),
    status: t.field({ type: ImportStatusEnum, resolve: (p) => p.status }),
    rowsTotal: t.exposeInt("rowsTotal"),
    rowsImported: t.exposeInt("rowsImported"),
    rowsSkipped: t.exposeInt("rowsSkipped"),
    rowsRejected: t.exposeInt("rowsRejected"),
    progress: t.float({ resolve: (p) => progressOf(p) }),
  }),
});

builder.queryFields((t) => ({
  importJob: t.prismaField({
    type: ImportJobType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      // Read the selection first: plugin-prisma reports a query left unused, even for a malformed id.
      const selection = { ...query };
      return isUuid(id) ? ctx.db.importJob.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
  importJobs: t.connection(
    {
      type: ImportJobType,
      authScopes: { viewer: true },
      description: "Newest first.",
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(IMPORT_JOBS, null, args);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), IMPORT_JOBS);
        const rows = await ctx.db.importJob.findMany({ ...query, where: page.where, orderBy: page.orderBy, take: page.take });
        return connectionOf(IMPORT_JOBS, null, page, rows, () => ctx.db.importJob.count());
      },
    },
    { name: "ImportJobConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "ImportJobEdge" },
  ),
}));

const FILE_DESCRIPTION = "The file (multipart request); at most BILLRUN_MAX_BODY_BYTES with the request. Larger files: POST /imports/{kind}.";
const ATOMIC_DESCRIPTION = "true: nothing imports unless every row does. Default false: bad rows are rejected, the rest imports.";

/** Reads the job an import mutation staged, with the mutation's selection. */
const importJobReader = (ctx: Context, query: { select?: Prisma.ImportJobSelect; include?: Prisma.ImportJobInclude }) => (id: string) =>
  ctx.db.importJob.findUnique({ ...query, where: { id } });

builder.mutationFields((t) => ({
  importAccounts: t.prismaField({
    type: ImportJobType,
    errors: {},
    authScopes: { operator: true },
    description: "Creates (or, in UPSERT mode, updates by accountNumber) accounts from a file. Returns the job at once; it runs in the background.",
    args: {
      file: t.arg({ type: "File", required: true, description: FILE_DESCRIPTION }),
      format: t.arg({ type: ImportFormatEnum, required: true }),
      mode: t.arg({ type: ImportModeEnum, description: "Default CREATE." }),
      atomic: t.arg.boolean({ description: ATOMIC_DESCRIPTION }),
    },
    resolve: (query, _root, args, ctx) =>
      writeThenRead(ctx, null, async () => (await startImport(ctx, "ACCOUNTS", args)).id, importJobReader(ctx, query), "import job"),
  }),
  importSubscriptions: t.prismaField({
    type: ImportJobType,
    errors: {},
    authScopes: { operator: true },
    description:
      "Creates subscriptions with their charges from a file: one row per charge, a subscription's rows consecutive, accounts named by accountNumber.",
    args: {
      file: t.arg({ type: "File", required: true, description: FILE_DESCRIPTION }),
      format: t.arg({ type: ImportFormatEnum, required: true }),
      mode: t.arg({ type: ImportModeEnum, description: "Default CREATE. UPSERT: a subscription already there (same number, same account) is left as it is." }),
      atomic: t.arg.boolean({ description: ATOMIC_DESCRIPTION }),
    },
    resolve: (query, _root, args, ctx) =>
      writeThenRead(ctx, null, async () => (await startImport(ctx, "SUBSCRIPTIONS", args)).id, importJobReader(ctx, query), "import job"),
  }),
  importUsage: t.prismaField({
    type: ImportJobType,
    errors: {},
    authScopes: { operator: true },
    description: "Records usage from a file. A row with a usageId recorded before is skipped.",
    args: {
      file: t.arg({ type: "File", required: true, description: FILE_DESCRIPTION }),
      format: t.arg({ type: ImportFormatEnum, required: true }),
      atomic: t.arg.boolean({ description: ATOMIC_DESCRIPTION }),
    },
    resolve: (query, _root, args, ctx) =>
      writeThenRead(ctx, null, async () => (await startImport(ctx, "USAGE", args)).id, importJobReader(ctx, query), "import job"),
  }),
}));

builder.subscriptionFields((t) => ({
  importJobProgress: t.field({
    type: ImportJobProgress,
    description: "The job's counters now, then at most four updates a second while they change, ending when the job has finished.",
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, { id }, ctx) => {
      if (!isUuid(id)) throw new ValidationError("id is not a valid import job id", ["id"]);
      return importProgressFeed(ctx.app, id);
    },
    resolve: (update) => update,
  }),
}));
