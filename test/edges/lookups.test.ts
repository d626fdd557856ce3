import { getNamedType, isLeafType, isNonNullType, isObjectType, isScalarType, type GraphQLField } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { schema } from "../../src/graphql/schema.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Every root query that looks one thing up by `id: ID!`, found in the schema so a lookup added later is covered. */
function lookups() {
  return Object.values(schema.getQueryType()!.getFields()).filter((field) => {
    const id = field.args.find((arg) => arg.name === "id");
    return (
      id &&
      isNonNullType(id.type) &&
      isScalarType(id.type.ofType) &&
      id.type.ofType.name === "ID" &&
      field.args.every((arg) => arg === id || !isNonNullType(arg.type))
    );
  });
}

/** Every field of the looked-up type that takes no required argument, relations included: plugin-prisma plans a query for them. */
function wideSelection(field: GraphQLField<unknown, unknown>): string {
  const type = getNamedType(field.type);
  if (!isObjectType(type)) return " { __typename }";
  const fields = Object.values(type.getFields())
    .filter((f) => f.args.every((arg) => !isNonNullType(arg.type)))
    .map((f) => (isLeafType(getNamedType(f.type)) ? f.name : `${f.name} { __typename }`));
  return ` { ${fields.join(" ")} }`;
}

describe("lookups by id", () => {
  it("finds the schema's lookups", () => {
    expect(lookups().map((f) => f.name)).toEqual(expect.arrayContaining(["account", "billRun", "invoice", "billRunSchedule", "webhookEndpoint"]));
  });

  it("answer null, without an error, for a malformed id and for an id nothing has", async () => {
    for (const field of lookups()) {
      for (const id of ["not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
        const result = await t.gql(`{ ${field.name}(id: ${JSON.stringify(id)})${wideSelection(field)} }`);
        expect(result.errors, `${field.name}(id: ${id})`).toBeUndefined();
        expect((result.data as Record<string, unknown>)[field.name], `${field.name}(id: ${id})`).toBeNull();
      }
    }
  });
});
