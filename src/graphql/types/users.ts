import { builder } from "../builder.ts";
import type { User } from "../../generated/prisma/client.ts";
import { createUser } from "../../auth/users.ts";
import { ValidationError } from "../../errors.ts";

export const RoleEnum = builder.enumType("Role", { values: ["ADMIN", "OPERATOR", "VIEWER"] as const });

export const UserType = builder.prismaObject("User", {
  fields: (t) => ({
    id: t.exposeID("id"),
    email: t.exposeString("email"),
    name: t.exposeString("name"),
    role: t.expose("role", { type: RoleEnum }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

const CreateUserPayload = builder.objectRef<{ user: User; token: string }>("CreateUserPayload").implement({
  fields: (t) => ({
    user: t.field({ type: UserType, resolve: (p) => p.user }),
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

const SettingsType = builder.prismaObject("Settings", {
  fields: (t) => ({
    advancedArSettlement: t.exposeBoolean("advancedArSettlement", {
      description: "When on, posting a bill run posts its credit memos too.",
    }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

const UpdateSettingsInput = builder.inputType("UpdateSettingsInput", {
  fields: (t) => ({ advancedArSettlement: t.boolean({ required: false }) }),
});

builder.queryFields((t) => ({
  me: t.prismaField({
    type: UserType,
    nullable: true,
    description: "The user behind the bearer token.",
    authScopes: { viewer: true },
    resolve: (query, _root, _args, ctx) => ctx.db.user.findUnique({ ...query, where: { id: ctx.user!.id } }),
  }),
  settings: t.prismaField({
    type: SettingsType,
    authScopes: { viewer: true },
    resolve: (query, _root, _args, ctx) => ctx.db.settings.findUniqueOrThrow({ ...query, where: { id: 1 } }),
  }),
}));

builder.mutationFields((t) => ({
  createUser: t.field({
    type: CreateUserPayload,
    errors: {},
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: (_root, { input }, ctx) => createUser(ctx.db, input),
  }),
  updateSettings: t.field({
    type: SettingsType,
    errors: {},
    authScopes: { admin: true },
    args: { input: t.arg({ type: UpdateSettingsInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      if (input.advancedArSettlement === null || input.advancedArSettlement === undefined) {
        throw new ValidationError("input: nothing to update", ["input"]);
      }
      return ctx.db.settings.update({ where: { id: 1 }, data: { advancedArSettlement: input.advancedArSettlement } });
    },
  }),
}));
