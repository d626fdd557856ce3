// Prints the GraphQL schema (sorted) to schema/schema.graphql; with --check, fails when the
// committed file differs from what the code defines.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { lexicographicSortSchema, printSchema } from "graphql";
import { schema } from "../src/graphql/schema.ts";

const target = fileURLToPath(new URL("../schema/schema.graphql", import.meta.url));
const printed = `${printSchema(lexicographicSortSchema(schema))}\n`;

if (process.argv.includes("--check")) {
  const committed = await readFile(target, "utf8").catch(() => "");
  if (committed !== printed) {
    console.error("schema/schema.graphql is stale: run `npm run generate` and commit the result.");
    process.exit(1);
  }
  console.log("schema/schema.graphql is up to date");
} else {
  await writeFile(target, printed);
  console.log(`wrote ${target}`);
}
