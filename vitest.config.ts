import { defineConfig } from "vitest/config";

export default defineConfig({
  // One copy of graphql for everything: Vite would hand src/ the ESM build while yoga, loaded
  // by Node, gets the CommonJS one, and GraphQLErrors would stop being recognised as such.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
