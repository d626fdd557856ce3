import SchemaBuilder from "@pothos/core";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import { GraphQLError } from "graphql";
import type PrismaTypes from "../generated/pothos-prisma-types.ts";
import { getDatamodel } from "../generated/pothos-prisma-types.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { hasRole } from "../auth/users.ts";
import { ConflictError, InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import type { Context } from "./context.ts";

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  AuthScopes: { viewer: boolean; operator: boolean; admin: boolean };
  Scalars: {
    Date: { Input: string; Output: Date | string };
    DateTime: { Input: Date; Output: Date };
    Decimal: { Input: string; Output: string | Prisma.Decimal };
    File: { Input: File; Output: never };
  };
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      viewer: hasRole(context.user, "VIEWER"),
      operator: hasRole(context.user, "OPERATOR"),
      admin: hasRole(context.user, "ADMIN"),
    }),
    unauthorizedError: (_parent, context) =>
      context.user
        ? new GraphQLError("your role does not allow this operation", { extensions: { code: "FORBIDDEN" } })
        : new GraphQLError("a valid bearer token is required", { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } }),
  },
  errors: {
    directResult: true,
    defaultTypes: [ValidationError, NotFoundError, InvalidStateError, ConflictError],
    defaultUnionOptions: { name: ({ fieldName }) => `${fieldName[0]!.toUpperCase()}${fieldName.slice(1)}Result` },
  },
  prisma: {
    client: (context) => context.db,
    dmmf: getDatamodel(),
    // Outside production a resolver that ignores Pothos' selection (an N+1 risk) fails loudly.
    onUnusedQuery: process.env.NODE_ENV === "production" ? null : "error",
    filterConnectionTotalCount: true,
    // Larger `first`/`last` values are refused before execution (src/graphql/plugins/limits.ts);
    // these are the defaults and the backstop.
    defaultConnectionSize: 20,
    maxConnectionSize: 100,
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});
