import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// The JS schema engine runs migrations through the pg driver adapter, so the CLI needs no
// native engine download (the machines only reach the npm registry).
export default defineConfig({
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations") },
  experimental: { adapter: true },
  engine: "js",
  async adapter() {
    // Commands that never connect (generate, migrate diff from files) still build an adapter.
    const url = process.env.DATABASE_URL ?? "postgresql://127.0.0.1:1/billrun-database-url-unset";
    return new PrismaPg({ connectionString: url });
  },
});
