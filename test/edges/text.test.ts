import { getArgumentValues } from "graphql/execution/values.js";
import { getNamedType, Kind, parse, visit, type FieldNode } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { schema } from "../../src/graphql/schema.ts";
import { normaliseOperationText } from "../../src/graphql/plugins/text.ts";
import { normaliseText } from "../../src/validation.ts";
import { dataOf, type Json } from "../billruns/helpers.ts";
import { literalWith, positionsIn, reachableFields } from "./schema-walk.ts";

const PRECOMPOSED = "Caf\u00e9";
const DECOMPOSED = "Cafe\u0301";
/** Strings that look empty: white space, zero-width and other format characters. */
const LOOK_EMPTY = ["", "   ", "\u200b", "\u200b \ufeff\u2060", "\u00a0\u3000", "\u200e\u200f", "\t"];
/** Strings with characters a name may not hold. */
const CONTROLLED = ["A\r\nBcc: evil@example.com", "Line\nbreak", "Tab\there", "\u202Eevil\u202C", "x\u2066y\u2069"];

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const RESULT = `__typename ... on Error { code message } ... on ValidationError { field }`;

async function createAccount(input: Record<string, unknown>) {
  const result = await t.gql<Json, unknown>(
    `mutation($input: CreateAccountInput!) { createAccount(input: $input) { ${RESULT} ... on Account { id name billToEmail } } }`,
    {
      input: { name: "Acme", currency: "USD", billCycleDay: 1, billToEmail: "billing@acme.example", ...input },
    },
  );
  return dataOf(result).createAccount;
}

async function createSubscription(accountId: string, charges: Record<string, unknown>[]) {
  const result = await t.gql<Json, unknown>(
    `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { ${RESULT} ... on CustomerSubscription { id charges { id name unitOfMeasure } } } }`,
    { input: { accountId, startDate: "2026-01-01", charges } },
  );
  return dataOf(result).createSubscription;
}

const usageCharge = (name: string, unitOfMeasure = "call") => ({ name, type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure });

describe("names that look the same are the same", () => {
  it("two charges that differ only in the byte form of é are one name twice", async () => {
    const account = await createAccount({});
    const refused = await createSubscription(account.id, [usageCharge(PRECOMPOSED), usageCharge(DECOMPOSED)]);
    expect(refused).toMatchObject({ __typename: "ValidationError", field: ["input", "charges", "1", "name"] });
    expect(await t.app.db.charge.count({ where: { subscription: { accountId: account.id } } })).toBe(0);
  });

  it("stores NFC, and recordUsage finds the charge by either form, as variable or literal", async () => {
    const account = await createAccount({ name: `${DECOMPOSED} du Coin` });
    expect(account.name).toBe(`${PRECOMPOSED} du Coin`);
    const subscription = await createSubscription(account.id, [usageCharge(DECOMPOSED, `m\u00b3 ${DECOMPOSED}`)]);
    expect(subscription.charges[0].name).toBe(PRECOMPOSED);
    const chargeId = subscription.charges[0].id;
    const viaVariable = async (chargeName: string, unitOfMeasure: string) =>
      dataOf(
        await t.gql<Json, unknown>(
          `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { ${RESULT} ... on UsageRecord { charge { id } unitOfMeasure } } }`,
          { input: { subscriptionId: subscription.id, chargeName, quantity: "1", unitOfMeasure, usageDate: "2026-01-10" } },
        ),
      ).recordUsage;
    for (const form of [PRECOMPOSED, DECOMPOSED]) {
      expect(await viaVariable(form, `m\u00b3 ${DECOMPOSED}`)).toEqual({
        __typename: "UsageRecord",
        charge: { id: chargeId },
        unitOfMeasure: `m\u00b3 ${PRECOMPOSED}`,
      });
    }
    const literal = await t.gql<Json, unknown>(
      `mutation { recordUsage(input: { subscriptionId: "${subscription.id}", chargeName: "Cafe\\u0301", quantity: "1", unitOfMeasure: "m\u00b3 ${DECOMPOSED}", usageDate: "2026-01-11" }) { ${RESULT} ... on UsageRecord { charge { id } } } }`,
    );
    expect(dataOf(literal).recordUsage).toEqual({ __typename: "UsageRecord", charge: { id: chargeId } });
    // The run rates the usage against its charge: the units are the same string.
    const preview = await t.gql<Json, unknown>(
      `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-02-01") { __typename ... on BillingPreview { failureCode documents { amount } } } }`,
      {
        id: account.id,
      },
    );
    expect(dataOf(preview).billingPreview).toEqual({ __typename: "BillingPreview", failureCode: null, documents: [{ amount: "0.30" }] });
  });
});

describe("names that look empty are empty", () => {
  it("refuses every look-empty string in every name field", async () => {
    const account = await createAccount({});
    const user = await t.app.db.user.findFirstOrThrow({ where: { role: "OPERATOR" } });
    for (const blank of LOOK_EMPTY) {
      const attempts: [string, Promise<Json>][] = [
        ["account name", createAccount({ name: blank })],
        ["charge name", createSubscription(account.id, [usageCharge(blank)])],
        ["unit of measure", createSubscription(account.id, [usageCharge("Calls", blank)])],
        [
          "user name",
          t
            .gql<Json, unknown>(`mutation($input: CreateUserInput!) { createUser(input: $input) { ${RESULT} } }`, {
              input: { email: `blank${LOOK_EMPTY.indexOf(blank)}@example.com`, name: blank, role: "VIEWER" },
            })
            .then((r) => dataOf(r).createUser),
        ],
        [
          "token label",
          t
            .gql<Json, unknown>(`mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { ${RESULT} } }`, {
              input: { label: blank, userId: user.id },
            })
            .then((r) => dataOf(r).createApiToken),
        ],
      ];
      for (const [what, attempt] of attempts) {
        const result = await attempt;
        expect(result, `${what} ${JSON.stringify(blank)}`).toMatchObject({ __typename: "ValidationError", code: "VALIDATION" });
        expect(result.message, what).toContain("must not be empty");
      }
    }
  });

  it("a bill-to email that looks empty is no contact; one with a header break is refused", async () => {
    expect(await createAccount({ billToEmail: "\u200b " })).toMatchObject({ __typename: "Account", billToEmail: "" });
    for (const bad of ["a@b.example\r\nBcc: evil@example.com", "a@b.example\nX: y", "\u202Ea@b.example"]) {
      expect(await createAccount({ billToEmail: bad }), JSON.stringify(bad)).toMatchObject({ __typename: "ValidationError", field: ["input", "billToEmail"] });
    }
  });

  it("refuses control characters and bidi overrides in names, keeps invisible joiners inside them", async () => {
    for (const bad of CONTROLLED) {
      const result = await createAccount({ name: bad });
      expect(result, JSON.stringify(bad)).toMatchObject({ __typename: "ValidationError", field: ["input", "name"] });
      expect(result.message).toContain("control characters");
    }
    // A zero-width joiner inside a name belongs to it (emoji sequences, Indic and Persian scripts).
    expect(await createAccount({ name: " \u200bFamily \u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200b " })).toMatchObject({
      __typename: "Account",
      name: "Family \u{1F468}\u200d\u{1F469}\u200d\u{1F467}",
    });
  });

  it("normaliseText: NFC, no invisible edges", () => {
    expect(normaliseText(`\ufeff ${DECOMPOSED}\u200b\u00a0`)).toBe(PRECOMPOSED);
    expect(normaliseText("\u200b\u2060")).toBe("");
  });
});

describe("every String input of the schema reaches its resolver in NFC", () => {
  /** Every position of type String in every argument of every reachable field. */
  const cases = reachableFields(schema).flatMap((site) =>
    site.field.args.flatMap((arg) =>
      positionsIn(arg.type, (type) => type.name === "String").map((position) => ({
        site,
        arg,
        position,
        name: `${site.parentType.name}.${site.field.name}(${[arg.name, ...position].join(".")})`,
      })),
    ),
  );

  /** The value the field's resolver would get at `path` of its arguments. */
  function argumentAt(document: ReturnType<typeof parse>, variables: Record<string, unknown>, site: (typeof cases)[number]["site"], path: string[]): unknown {
    let target: FieldNode | undefined;
    visit(document, {
      Field(node) {
        if (node.alias?.value === "target") target = node;
      },
    });
    let value: unknown = getArgumentValues(site.field, target!, variables);
    for (const step of path) value = (value as Record<string, unknown>)[step];
    return value;
  }

  it("finds the String inputs (names, numbers, emails, labels, cursors...)", () => {
    const names = cases.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "Mutation.createAccount(input.name)",
        "Mutation.createAccount(input.billToEmail)",
        "Mutation.createSubscription(input.charges.[].name)",
        "Mutation.recordUsage(input.chargeName)",
        "Mutation.createApiToken(input.label)",
        "Query.accounts(after)",
      ]),
    );
  });

  it("as a literal and as a variable", () => {
    expect(cases.length).toBeGreaterThan(20);
    for (const { site, arg, position, name } of cases) {
      const { literal, path } = literalWith(arg.type, position, JSON.stringify(DECOMPOSED));
      const fieldText = (args: string) => `target: ${site.field.name}${args}${isLeaf(site) ? "" : " { __typename }"}`;
      const asLiteral = { document: parse(site.wrap(fieldText(site.argsText({ [arg.name]: literal })))), variableValues: {} as Record<string, unknown> };
      normaliseOperationText(asLiteral);
      expect(argumentAt(asLiteral.document, asLiteral.variableValues, site, [arg.name, ...path]), name).toBe(PRECOMPOSED);

      // The same value as a variable of the argument's type.
      const variableOperation = site.wrap(fieldText(site.argsText({ [arg.name]: "$v" })));
      const withVariable = parse(variableOperation.replace(/^(query|mutation|subscription) /, `$1($v: ${String(arg.type)}) `));
      const value = JSON.parse(JSON.stringify(valueFromLiteral(literal)));
      const asVariable = { document: withVariable, variableValues: { v: value } as Record<string, unknown> };
      normaliseOperationText(asVariable);
      let given: unknown = asVariable.variableValues.v;
      for (const step of path) given = (given as Record<string, unknown>)[step];
      expect(given, name).toBe(PRECOMPOSED);
    }
  });
});

function isLeaf(site: { field: { type: unknown } }): boolean {
  const named = getNamedType(site.field.type as never) as unknown as { getFields?: unknown; getTypes?: unknown };
  return !named.getFields && !named.getTypes;
}

/** A literal's plain value (strings, numbers, enums as strings, lists, objects). */
function valueFromLiteral(literal: string): unknown {
  const node = parse(`{ f(a: ${literal}) }`).definitions[0] as never as { selectionSet: { selections: [FieldNode] } };
  const toValue = (value: import("graphql").ValueNode): unknown => {
    switch (value.kind) {
      case Kind.LIST:
        return value.values.map(toValue);
      case Kind.OBJECT:
        return Object.fromEntries(value.fields.map((f) => [f.name.value, toValue(f.value)]));
      case Kind.INT:
      case Kind.FLOAT:
        return Number(value.value);
      case Kind.BOOLEAN:
        return value.value;
      case Kind.NULL:
        return null;
      default:
        return (value as { value: string }).value;
    }
  };
  return toValue(node.selectionSet.selections[0].arguments![0]!.value);
}

describe("control characters never reach an email header", () => {
  it("headerValue puts a header on one line", async () => {
    const { headerValue } = await import("../../src/notifications/mailer.ts");
    expect(headerValue("Invoice INV-1\r\nBcc: evil@example.com")).toBe("Invoice INV-1 Bcc: evil@example.com");
    expect(headerValue("a\u2028b\u0085c")).toBe("a b c");
  });
});

describe("text stored before normalisation", () => {
  it("the migration puts names and units in NFC, leaving a charge whose NFC name is taken as it was", async () => {
    const { readFile } = await import("node:fs/promises");
    const { MIGRATIONS_DIR } = await import("../../src/db/migrate.ts");
    const { seedAccount } = await import("../support/billing.ts");
    const sql = await readFile(`${MIGRATIONS_DIR}/20261124090000_text_nfc/migration.sql`, "utf8");
    const { account, subscription } = await seedAccount(t, {
      charges: [
        { name: "One", type: "USAGE", price: "1", billingPeriod: "MONTH", unitOfMeasure: "u" },
        { name: "Two", type: "ONE_TIME", price: "1" },
        { name: "Three", type: "ONE_TIME", price: "1" },
      ],
    });
    const [one, two, three] = subscription.charges;
    // Written as an older version would have stored them, bypassing today's normalisation.
    await t.app.pool.query("UPDATE accounts SET name = $2 WHERE id = $1", [account.id, DECOMPOSED]);
    await t.app.pool.query("UPDATE charges SET name = $2, unit_of_measure = $3 WHERE id = $1", [one!.id, DECOMPOSED, `m${DECOMPOSED}`]);
    await t.app.pool.query("UPDATE charges SET name = $2 WHERE id = $1", [two!.id, `Th${DECOMPOSED}`]);
    await t.app.pool.query("UPDATE charges SET name = $2 WHERE id = $1", [three!.id, `Th${PRECOMPOSED}`]);
    await t.app.pool.query(sql);
    const charges = await t.app.db.charge.findMany({ where: { subscriptionId: subscription.id }, orderBy: { position: "asc" } });
    expect(charges.map((c) => c.name)).toEqual([PRECOMPOSED, `Th${DECOMPOSED}`, `Th${PRECOMPOSED}`]);
    expect(charges[0]!.unitOfMeasure).toBe(`m${PRECOMPOSED}`);
    expect((await t.app.db.account.findUniqueOrThrow({ where: { id: account.id } })).name).toBe(PRECOMPOSED);
  });
});
