import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed documents for tests and clients, from the committed schema and schema/operations.
const config: CodegenConfig = {
  schema: "schema/schema.graphql",
  documents: ["schema/operations/**/*.graphql"],
  ignoreNoDocuments: true,
  generates: {
    "src/generated/graphql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Date: "string", DateTime: "string", Decimal: "string" },
        emitLegacyCommonJSImports: false,
      },
    },
  },
};

export default config;
