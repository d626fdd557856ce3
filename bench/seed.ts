// The bulk seeding lives with the tests that use it too.
export { seedBulkAccounts } from "../test/support/seed.ts";
