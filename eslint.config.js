// Lint: typescript-eslint's recommended rules (syntax only, no type information: fast) and
// import cycles as errors, so that dependencies keep pointing one way.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

// The state machine announces status changes through hooks (src/billruns/hooks.ts); what acts on
// them subscribes, so bill runs never reach into email or webhooks.
const sourceZones = [
  { target: "./src/billruns", from: "./src/notifications", message: "subscribe with onTransition (src/billruns/hooks.ts) instead" },
  { target: "./src/billruns", from: "./src/webhooks", message: "subscribe with onTransition (src/billruns/hooks.ts) instead" },
];

export default tseslint.config(
  { ignores: ["node_modules/", "src/generated/", "web/dist/", "test-artifacts/", ".data/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { "import-x": importX },
    // Imports name their .ts files, so the plain Node resolver finds them.
    settings: {
      "import-x/resolver-next": [createNodeResolver()],
      // Followed imports are parsed as TypeScript too, or cycles through them go unseen.
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/extensions": [".ts", ".js"],
    },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-restricted-paths": ["error", { zones: sourceZones }],
      // Text checks reject control characters, so their patterns name them on purpose.
      "no-control-regex": "off",
      // A leading underscore marks a binding kept for its position or to leave it out of a rest.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ["test/**/*.ts", "src/**/*.test.ts"],
    rules: {
      // GraphQL results in tests are loosely typed on purpose: the assertions state their shape.
      "@typescript-eslint/no-explicit-any": "off",
      // Benchmarks use the tests' support code, never the other way round.
      "import-x/no-restricted-paths": ["error", { zones: [...sourceZones, { target: "./test", from: "./bench" }] }],
    },
  },
);
