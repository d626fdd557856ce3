import { GraphQLError, Kind, type ValueNode } from "graphql";
import { builder } from "../builder.ts";
import { isValidIsoDate, toIsoDate } from "../../util.ts";

const DECIMAL = /^-?\d{1,15}(\.\d{1,8})?$/;

function parseDecimal(value: unknown): string {
  if (typeof value !== "string" || !DECIMAL.test(value.trim())) {
    throw new GraphQLError('Decimal must be a string such as "12.50" (at most 15 digits before and 8 after the point)');
  }
  return value.trim();
}

function parseDate(value: unknown): string {
  if (typeof value !== "string" || !isValidIsoDate(value)) {
    throw new GraphQLError("Date must be a calendar date written YYYY-MM-DD");
  }
  return value;
}

function parseDateTime(value: unknown): Date {
  const date = typeof value === "string" && value.length <= 40 ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value as string)) {
    throw new GraphQLError("DateTime must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z");
  }
  return date;
}

/**
 * A string scalar's literal parser: the literal's error carries its node, so graphql-js reports
 * it with its location (and ValuesOfCorrectTypeWithPathRule adds the input path). Every custom
 * scalar takes its literals through here.
 */
export function stringLiteral<T>(parse: (value: unknown) => T): (ast: ValueNode) => T {
  return (ast) => {
    try {
      return parse(ast.kind === Kind.STRING ? ast.value : undefined);
    } catch (error) {
      throw new GraphQLError(error instanceof Error ? error.message : String(error), { nodes: ast, extensions: { code: "VALIDATION" } });
    }
  };
}

builder.scalarType("Decimal", {
  description: 'An exact decimal number, written as a string such as "12.50". Never a binary float.',
  serialize: (value) => (typeof value === "string" ? value : value.toString()),
  parseValue: parseDecimal,
  parseLiteral: stringLiteral(parseDecimal),
});

builder.scalarType("Date", {
  description: "A calendar date, YYYY-MM-DD.",
  serialize: (value) => (typeof value === "string" ? value : toIsoDate(value)),
  parseValue: parseDate,
  parseLiteral: stringLiteral(parseDate),
});

builder.scalarType("DateTime", {
  description: "An instant, ISO 8601 in UTC.",
  serialize: (value) => value.toISOString(),
  parseValue: parseDateTime,
  parseLiteral: stringLiteral(parseDateTime),
});
