import { z } from "zod";
import { ValidationError } from "./errors.ts";
import { isCurrency } from "./billing/money.ts";

/**
 * What a service takes for `schema`: the schema's input, where an optional field may also be null
 * (how GraphQL passes a field left out). The service parses it once, with `parseInput`: GraphQL
 * has checked the types; the schema adds the rules, the defaults and the normalisation.
 */
export type InputOf<S extends z.ZodType> = NullWhereOptional<z.input<S>>;
type NullWhereOptional<T> = T extends Date
  ? T
  : T extends readonly (infer U)[]
    ? NullWhereOptional<U>[]
    : T extends object
      ? { [K in keyof T]: undefined extends T[K] ? NullWhereOptional<T[K]> | null : NullWhereOptional<T[K]> }
      : T;

/** Parses `value` with `schema`; the first problem becomes a ValidationError naming its field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, root = "input"): z.output<S> {
  const result = schema.safeParse(stripNulls(value));
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [root, ...issue.path.map(String)];
  throw new ValidationError(`${field.join(".")}: ${issue.message}`, field);
}

export const currencyCode = z.string().refine((c) => isCurrency(c), { message: "unknown currency code (use an ISO 4217 code such as USD, EUR, JPY)" });

/**
 * Characters that show nothing: white space (Zs, tabs...) and format characters (Cf: zero-width
 * space and joiners, the byte-order mark, bidi marks...). Text made only of them is empty. Bidi
 * embeddings, overrides and isolates are not dropped but refused (CONTROLS), wherever they are.
 */
const INVISIBLE_EDGES = /^(?:(?![\u202A-\u202E\u2066-\u2069])[\p{White_Space}\p{Cf}])+|(?:(?![\u202A-\u202E\u2066-\u2069])[\p{White_Space}\p{Cf}])+$/gu;
/** Control characters (CR, LF, TAB...) and the bidi embeddings, overrides and isolates that reorder what follows. */
const CONTROLS = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/**
 * Human-entered text as it is stored, compared and looked up: Unicode NFC (so "Café" is one
 * string whichever way its é was typed), without invisible characters at either end.
 */
export function normaliseText(value: string): string {
  return value.normalize("NFC").replace(INVISIBLE_EDGES, "");
}

/**
 * A single-line human-entered text (a name, a label, a unit): normalised, not empty once
 * white space and invisible characters are removed, and without control characters or bidi
 * overrides (a name is shown in lists and emails, where they would break lines or reorder text).
 */
export const text = (max: number) =>
  z
    .string()
    .transform(normaliseText)
    .pipe(
      z
        .string()
        .min(1, "must not be empty")
        .max(max, `at most ${max} characters`)
        .refine((v) => !CONTROLS.test(v), "must not contain control characters (line breaks, tabs) or bidi overrides"),
    );

export const trimmedName = text;

export const email = z.string().transform(normaliseText).pipe(z.string().max(254).email("not a valid email address"));

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
