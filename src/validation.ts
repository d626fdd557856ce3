import { z } from "zod";
import { ValidationError } from "./errors.ts";
import { isCurrency } from "./billing/money.ts";

/** Parses `value` with `schema`; the first problem becomes a ValidationError naming its field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, root = "input"): z.output<S> {
  const result = schema.safeParse(stripNulls(value));
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [root, ...issue.path.map(String)];
  throw new ValidationError(`${field.join(".")}: ${issue.message}`, field);
}

export const currencyCode = z
  .string()
  .refine((c) => isCurrency(c), { message: "unknown currency code (use an ISO 4217 code such as USD, EUR, JPY)" });

export const trimmedName = (max: number) => z.string().trim().min(1, "must not be empty").max(max, `at most ${max} characters`);

export const email = z.string().trim().max(254).email("not a valid email address");

/** GraphQL gives null for omitted optional input fields; the schemas treat both as absent. */
function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, stripNulls(v)]),
    );
  }
  return value;
}
