// The billing core's public surface: pure functions over plain data (see SPEC §1).
export * from "./types.ts";
export * from "./money.ts";
export * from "./dates.ts";
export * from "./periods.ts";
export { billAccount, billAccounts, BillingInputError, prepareRun } from "./engine.ts";
export type { PreparedRun } from "./engine.ts";
