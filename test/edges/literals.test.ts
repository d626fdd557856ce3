import { getNamedType, GraphQLError, isInputObjectType, parseValue, type GraphQLInputType, type GraphQLNamedType, type GraphQLScalarType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { schema } from "../../src/graphql/schema.ts";
import {
  argumentsText,
  isCustomScalar,
  literalWith,
  locationOf,
  positionsIn,
  reachableFields,
  SCALAR_SAMPLES,
  selectionFor,
  UPLOAD_SCALARS,
} from "./schema-walk.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Invalid for every custom scalar: not a decimal in plain notation, not a date, not a timestamp. */
const BAD = '"1e3"';

interface Case {
  name: string;
  scalar: string;
  document: string;
  path: string[];
}

/** Every argument position of custom scalar type, in every field reachable in the schema. */
function literalCases(): Case[] {
  const cases: Case[] = [];
  for (const site of reachableFields(schema)) {
    for (const arg of site.field.args) {
      for (const position of positionsIn(arg.type, isCustomScalar)) {
        const { literal, path } = literalWith(arg.type, position, BAD);
        const fieldText = `${site.field.name}${argumentsText(site.field.args, { [arg.name]: literal })}${selectionFor(site.field)}`;
        cases.push({
          name: `${site.parentType.name}.${site.field.name}(${[arg.name, ...position].join(".")})`,
          scalar: typeAt(arg.type, position).name,
          document: site.wrap(fieldText),
          path: [arg.name, ...path],
        });
      }
    }
  }
  return cases;
}

function typeAt(type: GraphQLInputType, position: string[]): GraphQLNamedType {
  let named = getNamedType(type);
  for (const step of position) {
    if (step !== "[]" && isInputObjectType(named)) named = getNamedType(named.getFields()[step]!.type);
  }
  return named;
}

const printPath = (path: string[]) => path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");

describe("a bad literal says where it is", () => {
  it("every custom scalar of the schema has a sample (an upload has none), and the walk finds its positions", () => {
    const scalars = Object.values(schema.getTypeMap()).filter((type) => isCustomScalar(type) && !type.name.startsWith("__"));
    const uploads = scalars.filter((s) => UPLOAD_SCALARS.has(s.name));
    expect(uploads.map((s) => s.name)).toEqual([...UPLOAD_SCALARS]);
    expect(
      scalars
        .filter((s) => !UPLOAD_SCALARS.has(s.name))
        .map((s) => s.name)
        .sort(),
    ).toEqual(Object.keys(SCALAR_SAMPLES).sort());
    const cases = literalCases();
    expect(cases.map((c) => c.name)).toContain("Mutation.createSubscription(input.charges.[].price)");
    // An upload argument is walked like any other: its bad literal is refused too.
    expect(cases.map((c) => c.name)).toEqual(
      expect.arrayContaining(["Mutation.importAccounts(file)", "Mutation.importSubscriptions(file)", "Mutation.importUsage(file)"]),
    );
    // Each scalar's literal error carries its node, whether or not the schema takes it as input yet.
    for (const scalar of scalars) {
      const node = parseValue(BAD);
      let thrown: unknown;
      try {
        (scalar as GraphQLScalarType).parseLiteral(node, undefined);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, scalar.name).toBeInstanceOf(GraphQLError);
      expect((thrown as GraphQLError).nodes, scalar.name).toEqual([node]);
    }
  });

  it("reports each one with its location, the input path and VALIDATION", async () => {
    const cases = literalCases();
    expect(cases.length).toBeGreaterThan(10);
    for (const c of cases) {
      const result = await t.gql(c.document);
      expect(result.errors, `${c.name}: ${c.document}`).toHaveLength(1);
      const [error] = result.errors!;
      expect(error!.locations, c.name).toEqual([locationOf(c.document, c.document.indexOf(BAD))]);
      expect(error!.message, c.name).toContain(`at "${printPath(c.path)}"`);
      expect(error!.extensions, c.name).toMatchObject({ code: "VALIDATION", field: c.path });
      expect(result.data, c.name).toBeUndefined();
    }
  });

  it("the issue's case: the second of two inline charges, as a literal and as a variable", async () => {
    const literal = await t.gql(`mutation {
      createSubscription(input: { accountId: "x", startDate: "2026-01-01", charges: [
        { name: "A", type: ONE_TIME, price: "1.00" },
        { name: "B", type: ONE_TIME, price: "1e3" }
      ] }) { __typename }
    }`);
    expect(literal.errors).toHaveLength(1);
    expect(literal.errors![0]!.message).toMatch(/^Invalid value at "input\.charges\[1\]\.price" of field "createSubscription": Decimal must be/);
    expect(literal.errors![0]!.locations).toEqual([{ line: 4, column: 45 }]);
    expect(literal.errors![0]!.extensions).toMatchObject({ field: ["input", "charges", "1", "price"] });

    const variable = await t.gql(`mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { __typename } }`, {
      input: {
        accountId: "x",
        startDate: "2026-01-01",
        charges: [
          { name: "A", type: "ONE_TIME", price: "1" },
          { name: "B", type: "ONE_TIME", price: "1e3" },
        ],
      },
    });
    expect(variable.errors![0]!.message).toContain('"input.charges[1].price"');
  });

  it("a literal for a File argument is refused before anything runs: only a multipart part is a file", async () => {
    const document = `mutation {
  importAccounts(file: "accounts.csv", format: CSV) { __typename }
}`;
    const result = await t.gql(document, undefined, t.tokens.operator);
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors!;
    expect(error!.message).toMatch(/^Invalid value at "file" of field "importAccounts": File must be an uploaded file/);
    expect(error!.locations).toEqual([locationOf(document, document.indexOf('"accounts.csv"'))]);
    expect(error!.extensions).toMatchObject({ code: "VALIDATION", field: ["file"] });
    expect(result.data).toBeUndefined();
    expect(await t.app.db.importJob.count()).toBe(0);
  });

  it("a variable's default value and other literal mistakes are placed too", async () => {
    const defaulted = await t.gql(`query($d: Date = "2026-02-30") { billingPreview(accountId: "x", targetDate: $d) { __typename } }`);
    expect(defaulted.errors![0]).toMatchObject({ locations: [{ line: 1, column: 18 }], extensions: { code: "VALIDATION", field: ["$d"] } });
    expect(defaulted.errors![0]!.message).toContain("Date must be");

    const missing = await t.gql(
      `mutation { createSubscription(input: { accountId: "x", startDate: "2026-01-01", charges: [{ name: "A", price: "1" }] }) { __typename } }`,
    );
    expect(missing.errors![0]!.extensions).toMatchObject({ code: "VALIDATION", field: ["input", "charges", "0"] });
    expect(missing.errors![0]!.message).toContain('"ChargeInput.type"');
  });
});
