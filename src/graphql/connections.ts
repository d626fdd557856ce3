// Relay connections paged by keyset. A cursor is a position in its list's order (the values of
// the sort keys of the row it came from), never a row to find: the next page is "the rows
// after these values", so a deleted row does not end a client's paging. Every cursor is
// decoded and checked here, before anything reaches the database; a malformed cursor, or one
// of another list, is a ValidationError naming `after` or `before`.

import { ValidationError } from "../errors.ts";
import { isUuid } from "../util.ts";

/** One sort key of a list: a column of the row, its order and what its values look like. */
export interface SortKey {
  field: string;
  direction: "asc" | "desc";
  type: "text" | "int" | "bigint" | "uuid" | "timestamp" | "decimal";
}

/** A list's order. `name` says which list a cursor belongs to: a cursor of another list is refused. */
export interface KeysetOrder {
  name: string;
  keys: readonly SortKey[];
}

export interface ConnectionArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

type KeyValue = string | number;

/**
 * Which instance of a list a cursor belongs to: null for a root list, the parent's id for a
 * nested one. ANY_SCOPE when planning a nested list's query, before its parent is known (its
 * resolver checks the scope again).
 */
export const ANY_SCOPE = Symbol("any scope");
export type Scope = string | null | typeof ANY_SCOPE;

/** What to ask the database for one page, and how to read its answer. */
export interface Page {
  /** AND it with the list's own filter. */
  where: Record<string, unknown>;
  /** The list's order, reversed when paging backwards (`last`). */
  orderBy: Record<string, "asc" | "desc">[];
  /** One row more than the page, to know whether there is another. */
  take: number;
  size: number;
  backward: boolean;
  args: ConnectionArgs;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: () => number | Promise<number>;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The cursor of a row: base64url of ["list name", scope, ...sort key values]. */
export function encodeCursor(order: KeysetOrder, scope: string | null, row: Record<string, unknown>): string {
  const values = order.keys.map((key) => {
    const value = row[key.field];
    if (value instanceof Date) return value.toISOString();
    // A Prisma Decimal, kept exact as its text; a BigInt as its decimal digits (JSON has no bigint).
    if (key.type === "decimal" || key.type === "bigint") return String(value);
    return value as KeyValue;
  });
  return Buffer.from(JSON.stringify([order.name, scope, ...values]), "utf8").toString("base64url");
}

/**
 * The sort key values a cursor holds; a ValidationError on `argument` if it is not one of this
 * list's. `scope` (the parent's id for a nested list) must match, unless it is ANY_SCOPE.
 */
export function decodeCursor(order: KeysetOrder, scope: Scope, cursor: string, argument: "after" | "before"): KeyValue[] {
  const refuse = (why: string): never => {
    throw new ValidationError(`${argument}: ${why}; use a cursor this list returned (edges.cursor or pageInfo)`, [argument]);
  };
  if (cursor.length === 0 || cursor.length > 1024 || !BASE64URL.test(cursor)) refuse("not a cursor");
  let parsed: unknown;
  try {
    const text = Buffer.from(cursor, "base64url").toString("utf8");
    // Decoding is lenient: only a canonical encoding is a cursor we made.
    if (Buffer.from(text, "utf8").toString("base64url") !== cursor) refuse("not a cursor");
    parsed = JSON.parse(text);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    refuse("not a cursor");
  }
  if (!Array.isArray(parsed) || parsed.length < 2 || typeof parsed[0] !== "string") refuse("not a cursor");
  const [name, cursorScope, ...values] = parsed as unknown[];
  if (cursorScope !== null && typeof cursorScope !== "string") refuse("not a cursor");
  if (name !== order.name || (scope !== ANY_SCOPE && cursorScope !== scope)) refuse("a cursor of another list");
  if (values.length !== order.keys.length) refuse("not a cursor");
  values.forEach((value, i) => {
    if (!isKeyValue(order.keys[i]!, value)) refuse("not a cursor");
  });
  return values as KeyValue[];
}

function isKeyValue(key: SortKey, value: unknown): boolean {
  switch (key.type) {
    case "int":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "bigint":
      // A PostgreSQL bigint: at most 9223372036854775807.
      return (
        typeof value === "string" && /^(0|-?[1-9]\d{0,18})$/.test(value) && BigInt(value) <= 9223372036854775807n && BigInt(value) >= -9223372036854775808n
      );
    case "uuid":
      return typeof value === "string" && isUuid(value);
    case "timestamp":
      return typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value) && !Number.isNaN(Date.parse(value));
    case "text":
      return typeof value === "string" && value.length <= 200 && !value.includes("\u0000");
    case "decimal":
      return typeof value === "string" && /^-?\d{1,24}(\.\d{1,12})?$/.test(value);
  }
}

function databaseValue(key: SortKey, value: KeyValue): unknown {
  if (key.type === "timestamp") return new Date(value as string);
  if (key.type === "bigint") return BigInt(value);
  return value;
}

/** Rows strictly after (`side` "after") or before the position `values` in `order`. */
function beyond(order: KeysetOrder, values: KeyValue[], side: "after" | "before"): Record<string, unknown> {
  // (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..., with < for a descending key, and flipped before.
  const branches = order.keys.map((key, i) => {
    const later = (key.direction === "asc") === (side === "after") ? "gt" : "lt";
    const equalities = order.keys.slice(0, i).map((k, j) => ({ [k.field]: databaseValue(k, values[j]!) }));
    return { AND: [...equalities, { [key.field]: { [later]: databaseValue(key, values[i]!) } }] };
  });
  return branches.length === 1 ? branches[0]! : { OR: branches };
}

/**
 * The page the arguments ask for. `first` and `last` together are refused (Relay allows a
 * server to; their combination has no useful meaning). `after` and `before` may be combined:
 * the page lies between the two positions.
 */
export function pageOf(order: KeysetOrder, scope: Scope, args: ConnectionArgs): Page {
  const { first, last, after, before } = args;
  if (first !== null && first !== undefined && last !== null && last !== undefined) {
    throw new ValidationError("last: give first or last, not both", ["last"]);
  }
  for (const [name, value] of [
    ["first", first],
    ["last", last],
  ] as const) {
    if (value !== null && value !== undefined && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new ValidationError(`${name} must be between 0 and ${MAX_PAGE_SIZE} (was ${value})`, [name]);
    }
  }
  const bounds: Record<string, unknown>[] = [];
  if (after !== null && after !== undefined) bounds.push(beyond(order, decodeCursor(order, scope, after, "after"), "after"));
  if (before !== null && before !== undefined) bounds.push(beyond(order, decodeCursor(order, scope, before, "before"), "before"));
  const backward = last !== null && last !== undefined;
  const size = (backward ? last : first) ?? DEFAULT_PAGE_SIZE;
  const orderBy = order.keys.map((key) => ({
    [key.field]: backward ? (key.direction === "asc" ? "desc" : "asc") : key.direction,
  })) as Record<string, "asc" | "desc">[];
  return { where: bounds.length === 0 ? {} : { AND: bounds }, orderBy, take: size + 1, size, backward, args };
}

/** The connection of the rows a page's query returned (in the page's order). */
export function connectionOf<T extends Record<string, unknown>>(
  order: KeysetOrder,
  scope: string | null,
  page: Page,
  rows: readonly T[],
  totalCount: () => number | Promise<number>,
): Connection<T> {
  const more = rows.length > page.size;
  const kept = rows.slice(0, page.size);
  if (page.backward) kept.reverse();
  const edges = kept.map((node) => ({ cursor: encodeCursor(order, scope, node), node }));
  return {
    edges,
    pageInfo: {
      // What lies beyond the cursor on the other side is known to exist only when it was given.
      hasNextPage: page.backward ? page.args.before !== null && page.args.before !== undefined : more,
      hasPreviousPage: page.backward ? more : page.args.after !== null && page.args.after !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount,
  };
}

/**
 * A nested list's page, planned with its parent's query. Wrong arguments plan an empty read:
 * the list's resolver then refuses them, on the list's own path rather than its parent's.
 */
export function plannedPage(order: KeysetOrder, args: ConnectionArgs): Page {
  try {
    return pageOf(order, ANY_SCOPE, args);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return { where: {}, orderBy: pageOf(order, ANY_SCOPE, {}).orderBy, take: 0, size: 0, backward: false, args };
  }
}

/**
 * A Prisma query's selection (`{ select }` or `{ include }`, as Pothos plans it) with the sort
 * keys added, so that every row can give its cursor.
 */
export function withSortKeys<Q extends { select?: Record<string, unknown>; include?: Record<string, unknown> }>(query: Q, order: KeysetOrder): Q {
  if (!query.select) return query;
  return { ...query, select: { ...query.select, ...Object.fromEntries(order.keys.map((key) => [key.field, true])) } };
}

/** A connection's totalCount, counted only when asked for. */
export function totalCountOf(connection: unknown): number | Promise<number> {
  return (connection as Connection<never>).totalCount();
}
