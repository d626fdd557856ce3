/**
 * PostgreSQL array literals built in one pass, for the large list parameters of a chunk's
 * statements (thousands of ids, dates and amounts each). node-postgres quotes and escapes every
 * element of a JavaScript array it is given, one string after another; ids, dates and decimal
 * amounts never need it, and a literal passed as text is read by the parameter's array type
 * (`$1::uuid[]`) the same way.
 */

// An element is written bare unless it is empty, holds one of the literal's own characters or
// white space, or reads as NULL: then it is quoted, with `"` and `\` escaped.
const NEEDS_QUOTES = /^$|[{}",\\\s]|^null$/i;
const QUOTED_SPECIALS = /["\\]/g;

function element(value: string | null): string {
  if (value === null) return "NULL";
  return NEEDS_QUOTES.test(value) ? `"${value.replace(QUOTED_SPECIALS, "\\$&")}"` : value;
}

/**
 * `values` as the text of a one-dimensional array literal, e.g. `{a,NULL,"b c"}`; null elements
 * are SQL NULL. Pass it where the statement casts the parameter to an array type.
 */
export function arrayLiteral(values: readonly (string | null)[]): string {
  let text = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) text += ",";
    text += element(values[i]!);
  }
  return text + "}";
}

/**
 * `values` as an array literal like arrayLiteral's, for values that never need quoting (uuids,
 * integers, 'YYYY-MM-DD' dates, `t`/`f`): joined as they are, without testing each. Not for text
 * that may hold `{}",\` or white space, nor for nulls.
 */
export function bareArrayLiteral(values: readonly (string | number)[]): string {
  return `{${values.join(",")}}`;
}
