import { GraphQLError, visit, type DocumentNode } from "graphql";
import { badRequest } from "./bad-request.ts";

/** A lone UTF-16 surrogate: half of a character, which no Unicode encoding can carry. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL text cannot hold this string, or null when it can. */
function unstorableText(value: string): string | null {
  if (value.includes("\u0000")) return "contains the NUL character (\\u0000), which text cannot hold";
  if (LONE_SURROGATE.test(value)) return "contains a lone UTF-16 surrogate, which is not Unicode text";
  return null;
}

/**
 * A string PostgreSQL text cannot hold (a NUL character, or half of a surrogate pair, which
 * would otherwise reach the database mangled or fail there), in a variable or a literal, is
 * refused up front with a clear VALIDATION error.
 */
export function unstorableTextError(document: DocumentNode, variables: Record<string, unknown> | null | undefined): GraphQLError | null {
  const refuse = (where: string, why: string, field?: string[]) =>
    new GraphQLError(`${where} ${why}`, {
      extensions: { code: "VALIDATION", ...(field ? { field } : {}), http: badRequest() },
    });
  const search = (value: unknown, path: string[]): { path: string[]; why: string } | null => {
    if (typeof value === "string") {
      const why = unstorableText(value);
      return why ? { path, why } : null;
    }
    if (value === null || typeof value !== "object") return null;
    for (const [key, item] of Object.entries(value)) {
      const found = search(item, [...path, key]);
      if (found) return found;
    }
    return null;
  };
  const inVariables = search(variables ?? {}, []);
  if (inVariables) return refuse(`$${inVariables.path.join(".")}`, inVariables.why, inVariables.path);
  // The parser refuses lone surrogates in literals; a NUL gets into one as a \u escape or as
  // itself (the query text came as JSON, which can carry it). Most documents need no walk.
  const body = document.loc?.source.body;
  if (body !== undefined && !body.includes("\\u") && !body.includes("\u0000")) return null;
  let literal: string | null = null;
  visit(document, {
    StringValue(node) {
      literal ??= unstorableText(node.value);
    },
  });
  return literal ? refuse("a string literal", literal) : null;
}
