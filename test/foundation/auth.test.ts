import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { CreateAccountDocument, CreateUserDocument, MeDocument, SettingsDocument, UpdateSettingsDocument } from "../../src/generated/graphql/graphql.ts";
import { print } from "graphql";
import { as, counts, dataOf, errorCodes, rawPost } from "./helpers.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe("authentication", () => {
  it("refuses a request without a token with UNAUTHENTICATED", async () => {
    const result = await t.gql(MeDocument, {}, null);
    expect(errorCodes(result)).toEqual(["UNAUTHENTICATED"]);
    expect(result.data?.me ?? null).toBeNull();
  });

  it.each([
    ["a non-Bearer scheme", "Basic YWRtaW46YWRtaW4="],
    ["Bearer without a token", "Bearer"],
    ["Bearer with two words", "Bearer brt_a brt_b"],
    ["an unknown token", "Bearer brt_this_token_was_never_issued_0000"],
    ["an over-long token", `Bearer ${"x".repeat(500)}`],
  ])("refuses %s with UNAUTHENTICATED", async (_label, authorization) => {
    const { body } = await rawPost(t, { authorization }, { query: print(MeDocument) });
    expect(errorCodes(body)).toEqual(["UNAUTHENTICATED"]);
    expect((body.data as { me: unknown } | undefined)?.me ?? null).toBeNull();
  });

  it("answers me with each built-in user's role", async () => {
    expect(dataOf(await t.gql(MeDocument, {}, t.tokens.admin)).me).toMatchObject({ email: "admin@localhost", role: "ADMIN" });
    expect(dataOf(await t.gql(MeDocument, {}, t.tokens.operator)).me).toMatchObject({ email: "operator@example.com", role: "OPERATOR" });
    expect(dataOf(await t.gql(MeDocument, {}, t.tokens.viewer)).me).toMatchObject({ email: "viewer@example.com", role: "VIEWER" });
  });
});

describe("authorization", () => {
  it("refuses createAccount to a VIEWER with FORBIDDEN and creates nothing", async () => {
    const before = await t.app.db.account.count();
    const result = await t.gql(CreateAccountDocument, { input: { name: "Not Allowed Ltd", currency: "USD", billCycleDay: 1 } }, t.tokens.viewer);
    expect(errorCodes(result)).toEqual(["FORBIDDEN"]);
    expect(result.data?.createAccount ?? null).toBeNull();
    expect(await t.app.db.account.count()).toBe(before);
    expect(await t.app.db.account.findFirst({ where: { name: "Not Allowed Ltd" } })).toBeNull();
  });

  it("refuses createAccount without a token with UNAUTHENTICATED and creates nothing", async () => {
    const before = await t.app.db.account.count();
    const result = await t.gql(CreateAccountDocument, { input: { name: "Anonymous Ltd", currency: "USD", billCycleDay: 1 } }, null);
    expect(errorCodes(result)).toEqual(["UNAUTHENTICATED"]);
    expect(await t.app.db.account.count()).toBe(before);
  });

  it("lets an OPERATOR create an account", async () => {
    const result = await t.gql(CreateAccountDocument, { input: { name: "Operator Made", currency: "EUR", billCycleDay: 5 } }, t.tokens.operator);
    expect(as(dataOf(result).createAccount, "Account")).toMatchObject({ name: "Operator Made", currency: "EUR", billCycleDay: 5 });
  });

  it("refuses createUser to an OPERATOR with FORBIDDEN and creates no user", async () => {
    const before = await counts(t);
    const result = await t.gql(CreateUserDocument, { input: { email: "sneaky@example.com", name: "Sneaky", role: "ADMIN" } }, t.tokens.operator);
    expect(errorCodes(result)).toEqual(["FORBIDDEN"]);
    expect(result.data?.createUser ?? null).toBeNull();
    expect(await counts(t)).toEqual(before);
    expect(await t.app.db.user.findUnique({ where: { email: "sneaky@example.com" } })).toBeNull();
  });

  it("refuses createUser to a VIEWER with FORBIDDEN", async () => {
    const result = await t.gql(CreateUserDocument, { input: { email: "v2@example.com", name: "V2", role: "VIEWER" } }, t.tokens.viewer);
    expect(errorCodes(result)).toEqual(["FORBIDDEN"]);
  });
});

describe("createUser", () => {
  it("creates a user whose token authenticates as that user with that role", async () => {
    const result = await t.gql(CreateUserDocument, { input: { email: "Fiona.Finance@Example.com", name: "Fiona Finance", role: "OPERATOR" } });
    const payload = as(dataOf(result).createUser, "CreateUserPayload");
    expect(payload.user).toMatchObject({ email: "fiona.finance@example.com", name: "Fiona Finance", role: "OPERATOR" });
    expect(payload.token).toMatch(/^brt_[A-Za-z0-9_-]{40,}$/);

    const me = dataOf(await t.gql(MeDocument, {}, payload.token)).me;
    expect(me).toEqual({ id: payload.user.id, email: "fiona.finance@example.com", name: "Fiona Finance", role: "OPERATOR" });

    // Only a hash of the token is stored.
    const stored = await t.app.db.apiToken.findMany({ where: { userId: payload.user.id } });
    expect(stored).toHaveLength(1);
    expect(stored[0]!.tokenHash).not.toContain(payload.token);

    // The new OPERATOR may do operator things but not admin things.
    const asOperator = await t.gql(CreateAccountDocument, { input: { name: "Fiona's", currency: "GBP", billCycleDay: 28 } }, payload.token);
    expect(as(dataOf(asOperator).createAccount, "Account").name).toBe("Fiona's");
    const asAdmin = await t.gql(UpdateSettingsDocument, { input: { advancedArSettlement: true } }, payload.token);
    expect(errorCodes(asAdmin)).toEqual(["FORBIDDEN"]);
  });

  it("creates a VIEWER whose token can read but not write", async () => {
    const payload = as(
      dataOf(await t.gql(CreateUserDocument, { input: { email: "dash@example.com", name: "Dashboard", role: "VIEWER" } })).createUser,
      "CreateUserPayload",
    );
    expect(dataOf(await t.gql(MeDocument, {}, payload.token)).me?.role).toBe("VIEWER");
    const write = await t.gql(CreateAccountDocument, { input: { name: "No", currency: "USD", billCycleDay: 1 } }, payload.token);
    expect(errorCodes(write)).toEqual(["FORBIDDEN"]);
  });

  it("returns a ConflictError for an existing email (case-insensitively) and creates no user", async () => {
    const before = await t.app.db.user.count();
    for (const email of ["operator@example.com", "OPERATOR@Example.COM"]) {
      const result = await t.gql(CreateUserDocument, { input: { email, name: "Again", role: "VIEWER" } });
      const error = as(dataOf(result).createUser, "ConflictError");
      expect(error.code).toBe("CONFLICT");
      expect(error.message).toContain("already exists");
    }
    expect(await t.app.db.user.count()).toBe(before);
    // The existing user is untouched.
    expect(await t.app.db.user.findUnique({ where: { email: "operator@example.com" } })).toMatchObject({ name: "Olivia Operator", role: "OPERATOR" });
  });

  it("answers concurrent creates with the same email with one user and ConflictErrors, never an unexpected error", async () => {
    const before = await t.app.db.user.count();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => t.gql(CreateUserDocument, { input: { email: "race@example.com", name: `Racer ${i}`, role: "VIEWER" } })),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const typenames = results.map((r) => r.data?.createUser.__typename).sort();
    expect(typenames).toEqual(["ConflictError", "ConflictError", "ConflictError", "ConflictError", "ConflictError", "CreateUserPayload"]);
    expect(await t.app.db.user.count()).toBe(before + 1);
  });

  it("returns a ValidationError naming the email field for a bad email", async () => {
    const before = await t.app.db.user.count();
    const result = await t.gql(CreateUserDocument, { input: { email: "not-an-email", name: "Bad", role: "VIEWER" } });
    const error = as(dataOf(result).createUser, "ValidationError");
    expect(error).toMatchObject({ code: "VALIDATION", field: ["input", "email"] });
    expect(await t.app.db.user.count()).toBe(before);
  });
});

describe("settings", () => {
  it("is readable by a VIEWER, writable only by an ADMIN, and persists advancedArSettlement", async () => {
    const initial = dataOf(await t.gql(SettingsDocument, {}, t.tokens.viewer)).settings;
    expect(initial.advancedArSettlement).toBe(false);
    expect(Number.isNaN(Date.parse(initial.updatedAt))).toBe(false);

    for (const token of [t.tokens.viewer, t.tokens.operator]) {
      const refused = await t.gql(UpdateSettingsDocument, { input: { advancedArSettlement: true } }, token);
      expect(errorCodes(refused)).toEqual(["FORBIDDEN"]);
    }
    expect((await t.app.db.settings.findUniqueOrThrow({ where: { id: 1 } })).advancedArSettlement).toBe(false);

    const updated = as(dataOf(await t.gql(UpdateSettingsDocument, { input: { advancedArSettlement: true } }, t.tokens.admin)).updateSettings, "Settings");
    expect(updated.advancedArSettlement).toBe(true);
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(initial.updatedAt));

    // Persisted: visible to another user and in the database.
    expect(dataOf(await t.gql(SettingsDocument, {}, t.tokens.viewer)).settings.advancedArSettlement).toBe(true);
    expect((await t.app.db.settings.findUniqueOrThrow({ where: { id: 1 } })).advancedArSettlement).toBe(true);

    // And back off.
    const off = as(dataOf(await t.gql(UpdateSettingsDocument, { input: { advancedArSettlement: false } })).updateSettings, "Settings");
    expect(off.advancedArSettlement).toBe(false);
    expect(dataOf(await t.gql(SettingsDocument, {}, t.tokens.operator)).settings.advancedArSettlement).toBe(false);
  });

  it("returns a ValidationError when updateSettings changes nothing", async () => {
    const result = await t.gql(UpdateSettingsDocument, { input: {} });
    expect(as(dataOf(result).updateSettings, "ValidationError")).toMatchObject({ code: "VALIDATION", field: ["input"] });
  });

  it("refuses settings without a token", async () => {
    const result = await t.gql(SettingsDocument, {}, null);
    expect(errorCodes(result)).toEqual(["UNAUTHENTICATED"]);
  });
});
