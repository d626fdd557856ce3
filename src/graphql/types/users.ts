import { GraphQLError, type GraphQLResolveInfo } from "graphql";
import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import { Role } from "../../generated/prisma/enums.ts";
import { connectionOf, pageOf, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import type { Context } from "../context.ts";
import type { ApiToken, User } from "../../generated/prisma/client.ts";
import { createApiToken, createUser, hasRole, revokeApiToken, updateUser } from "../../auth/users.ts";
import { isUuid } from "../../util.ts";
import { parseSettingsUpdate } from "../../documents/settings.ts";
import { writeThenRead } from "../write-then-read.ts";

export const RoleEnum = builder.enumType(Role, { name: "Role" });

export const UserType = builder.prismaObject("User", {
  fields: (t) => ({
    id: t.exposeID("id"),
    email: t.string({
      nullable: true,
      description:
        "Shown to OPERATORs and ADMINs, and to the user themself in queries and mutations; null otherwise " +
        "(a VIEWER sees no one else's email, in subscriptions not even its own: their results are shared by role).",
      resolve: (user, _args, ctx, info) => (canSeeEmail(ctx, user, info) ? user.email : null),
    }),
    name: t.exposeString("name"),
    role: t.expose("role", { type: RoleEnum }),
    disabledAt: t.expose("disabledAt", {
      type: "DateTime",
      nullable: true,
      description: "When the user was disabled (none of their tokens authenticates); null while they may use the API.",
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

function canSeeEmail(ctx: Context, user: Pick<User, "id">, info: GraphQLResolveInfo): boolean {
  if (hasRole(ctx.user, "OPERATOR")) return true;
  // Subscription results are computed once per role and shared (src/graphql/ws.ts): what a
  // field shows there may depend on the role only, never on who the subscriber is.
  return ctx.user?.id === user.id && info.operation.operation !== "subscription";
}

export const ApiTokenType = builder.prismaObject("ApiToken", {
  description: "An API token's record; the token itself is only shown when it is created.",
  fields: (t) => ({
    id: t.exposeID("id"),
    label: t.exposeString("label"),
    user: t.relation("user"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
  }),
});

const CreateApiTokenPayload = builder.objectRef<{ apiToken: ApiToken; token: string }>("CreateApiTokenPayload").implement({
  fields: (t) => ({
    apiToken: t.prismaField({
      type: ApiTokenType,
      resolve: (query, p, _args, ctx) => ctx.db.apiToken.findUniqueOrThrow({ ...query, where: { id: p.apiToken.id } }),
    }),
    token: t.exposeString("token", { description: "The bearer token. Shown once: only its hash is stored." }),
  }),
});

const CreateApiTokenInput = builder.inputType("CreateApiTokenInput", {
  fields: (t) => ({
    label: t.string({ required: true, description: "What the token is for (1-100 characters)." }),
    userId: t.id({ description: "Whose token; default: yours. Only an ADMIN may create tokens for others." }),
  }),
});

const CreateUserPayload = builder.objectRef<{ user: User; token: string }>("CreateUserPayload").implement({
  fields: (t) => ({
    user: t.prismaField({
      type: UserType,
      resolve: (query, p, _args, ctx) => ctx.db.user.findUniqueOrThrow({ ...query, where: { id: p.user.id } }),
    }),
    token: t.exposeString("token", { description: "The user's API token. Shown once: only its hash is stored." }),
  }),
});

const CreateUserInput = builder.inputType("CreateUserInput", {
  fields: (t) => ({
    email: t.string({ required: true }),
    name: t.string({ required: true }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

const UpdateUserInput = builder.inputType("UpdateUserInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ description: "1-200 characters." }),
    role: t.field({ type: RoleEnum, description: "Takes effect at once: the user's open subscriptions are ended, on every API process." }),
    disabled: t.boolean({
      description: "true: none of the user's tokens authenticates any more, and their open subscriptions are ended at once; false: enabled again.",
    }),
  }),
});

const SettingsType = builder.prismaObject("Settings", {
  fields: (t) => ({
    advancedArSettlement: t.exposeBoolean("advancedArSettlement", {
      description: "When on, posting a bill run posts its credit memos too.",
    }),
    companyName: t.exposeString("companyName", { description: "Seller name printed on invoice and credit-memo PDFs." }),
    companyAddress: t.exposeString("companyAddress", { description: "Seller address on the PDFs, one line per line." }),
    companyTaxId: t.exposeString("companyTaxId", { description: "Seller tax id (VAT number) on the PDFs." }),
    companyLogo: t.string({
      nullable: true,
      description: "Seller logo on the PDFs: a PNG or JPEG data URL; null when none.",
      resolve: (s) => s.companyLogo || null,
    }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const UpdateSettingsInput = builder.inputType("UpdateSettingsInput", {
  fields: (t) => ({
    advancedArSettlement: t.boolean({ required: false }),
    companyName: t.string({ required: false, description: "At most 200 characters; empty clears it." }),
    companyAddress: t.string({ required: false, description: "At most 10 lines and 1,000 characters; empty clears it." }),
    companyTaxId: t.string({ required: false, description: "At most 100 characters; empty clears it." }),
    companyLogo: t.string({ required: false, description: "A PNG or JPEG as a data URL (data:image/png;base64,...), at most 200 KiB; empty removes it." }),
  }),
});

builder.queryFields((t) => ({
  me: t.prismaField({
    type: UserType,
    nullable: true,
    description: "The user behind the bearer token.",
    authScopes: { viewer: true },
    resolve: (query, _root, _args, ctx) => ctx.db.user.findUnique({ ...query, where: { id: ctx.user!.id } }),
  }),
  apiTokens: t.connection(
    {
      type: ApiTokenType,
      authScopes: { viewer: true },
      description: "API tokens (in a stable order): yours, or (ADMIN) a given user's or everyone's.",
      args: {
        userId: t.arg.id({ description: "Default: yours; an ADMIN without userId sees every user's." }),
        includeRevoked: t.arg.boolean({ defaultValue: false }),
      },
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(API_TOKENS, null, args);
        const where = apiTokensWhere(ctx, args);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), API_TOKENS);
        const rows = await ctx.db.apiToken.findMany({ ...query, where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take });
        return connectionOf(API_TOKENS, null, page, rows, () => ctx.db.apiToken.count({ where }));
      },
    },
    { name: "ApiTokenConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "ApiTokenEdge" },
  ),
  settings: t.prismaField({
    type: SettingsType,
    authScopes: { viewer: true },
    resolve: (query, _root, _args, ctx) => ctx.db.settings.findUniqueOrThrow({ ...query, where: { id: 1 } }),
  }),
}));

const API_TOKENS: KeysetOrder = { name: "apiTokens", keys: [{ field: "id", direction: "asc", type: "uuid" }] };

/** Which tokens a caller may list: an ADMIN anyone's, everyone else only their own. */
function apiTokensWhere(ctx: Context, args: { userId?: string | null; includeRevoked?: boolean | null }) {
  const admin = hasRole(ctx.user, "ADMIN");
  if (args.userId && args.userId !== ctx.user!.id && !admin) {
    throw new GraphQLError("only an ADMIN may list another user's tokens", { extensions: { code: "FORBIDDEN" } });
  }
  const userId = args.userId ?? (admin ? undefined : ctx.user!.id);
  // A malformed id names no user: an empty list rather than a database error.
  if (userId !== undefined && !isUuid(userId)) return { id: { in: [] } };
  return { ...(userId === undefined ? {} : { userId }), ...(args.includeRevoked ? {} : { revokedAt: null }) };
}

builder.mutationFields((t) => ({
  createApiToken: t.field({
    type: CreateApiTokenPayload,
    errors: {},
    authScopes: { operator: true },
    description: "A new token for yourself (OPERATOR, ADMIN) or for another user (ADMIN).",
    args: { input: t.arg({ type: CreateApiTokenInput, required: true }) },
    resolve: (_root, { input }, ctx) => createApiToken(ctx.db, ctx.user!, input),
  }),
  revokeApiToken: t.prismaField({
    type: ApiTokenType,
    errors: {},
    authScopes: { operator: true },
    description:
      "Revokes a token at once: once this answers, no request with it is served, and every API process ends the subscriptions " +
      "opened with it within a second (WebSockets closed with 4403, SSE streams ended with an UNAUTHENTICATED error). " +
      "An OPERATOR may revoke their own tokens, an ADMIN anyone's. (BILLRUN_ADMIN_TOKEN is restored at the next start while it stays configured.)",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => (await revokeApiToken(ctx.db, ctx.user!, id)).id,
        (tokenId) => ctx.db.apiToken.findUnique({ ...query, where: { id: tokenId } }),
        "API token",
      ),
  }),
  createUser: t.field({
    type: CreateUserPayload,
    errors: {},
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: (_root, { input }, ctx) => createUser(ctx.db, input),
  }),
  updateUser: t.prismaField({
    type: UserType,
    errors: {},
    authScopes: { admin: true },
    description:
      "Changes a user's name, role or status (ADMIN). A change of role or status takes effect at once: the user's open subscriptions " +
      "are ended on every API process within a second (WebSockets closed with 4403) and they reconnect with the new role. " +
      "The last enabled ADMIN can be neither demoted nor disabled (InvalidStateError).",
    args: { input: t.arg({ type: UpdateUserInput, required: true }) },
    resolve: (query, _root, { input }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => (await updateUser(ctx.db, input)).id,
        (id) => ctx.db.user.findUnique({ ...query, where: { id } }),
        "user",
      ),
  }),
  updateSettings: t.prismaField({
    type: SettingsType,
    errors: {},
    authScopes: { admin: true },
    args: { input: t.arg({ type: UpdateSettingsInput, required: true }) },
    resolve: (query, _root, { input }, ctx) => ctx.db.settings.update({ ...query, where: { id: 1 }, data: parseSettingsUpdate(input) }),
  }),
}));
