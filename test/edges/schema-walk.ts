import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isSpecifiedScalarType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from "graphql";

/** Walks the schema to build operations that reach every field, so a field added later is covered too. */

/** A valid literal of each custom scalar; a new scalar must be added here (the tests say so). */
export const SCALAR_SAMPLES: Record<string, string> = {
  Decimal: '"1"',
  Date: '"2026-01-01"',
  DateTime: '"2026-01-01T00:00:00Z"',
};

/**
 * Custom scalars no literal can stand for, so without a sample: a File is a part of a multipart
 * request, which only a variable can name (through the request's `map`). A literal given for
 * one is refused like any bad literal (test/edges/literals.test.ts).
 */
export const UPLOAD_SCALARS: ReadonlySet<string> = new Set(["File"]);

/** A valid literal of `type` (required input fields only). */
export function sampleLiteral(type: GraphQLInputType): string {
  if (isNonNullType(type)) return sampleLiteral(type.ofType);
  if (isListType(type)) return `[${sampleLiteral(type.ofType)}]`;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((f) => isNonNullType(f.type) && f.defaultValue === undefined);
    return `{ ${fields.map((f) => `${f.name}: ${sampleLiteral(f.type)}`).join(", ")} }`;
  }
  if (isEnumType(type)) return type.getValues()[0]!.name;
  switch (type.name) {
    case "Int":
      return "1";
    case "Float":
      return "1.5";
    case "Boolean":
      return "true";
    case "String":
    case "ID":
      return '"x"';
  }
  const sample = SCALAR_SAMPLES[type.name];
  if (!sample && UPLOAD_SCALARS.has(type.name))
    throw new Error(`scalar ${type.name} is an upload: no literal stands for one; give the argument as an override`);
  if (!sample) throw new Error(`no sample literal for scalar ${type.name}: add one to SCALAR_SAMPLES`);
  return sample;
}

export function isCustomScalar(type: GraphQLNamedType): boolean {
  return isScalarType(type) && !isSpecifiedScalarType(type);
}

/** A position inside an argument's value: input field names, and "[]" for a list item. */
export type Position = string[];

/** Every position in `type` whose named type satisfies `wanted`. */
export function positionsIn(type: GraphQLInputType, wanted: (t: GraphQLNamedType) => boolean, seen = new Set<string>()): Position[] {
  if (isNonNullType(type)) return positionsIn(type.ofType, wanted, seen);
  if (isListType(type)) return positionsIn(type.ofType, wanted, seen).map((p) => ["[]", ...p]);
  if (wanted(type)) return [[]];
  if (!isInputObjectType(type) || seen.has(type.name)) return [];
  const inner = new Set(seen).add(type.name);
  return Object.values(type.getFields()).flatMap((field) => positionsIn(field.type, wanted, inner).map((p) => [field.name, ...p]));
}

/**
 * The literal of `type` with `bad` at `position` and samples elsewhere. A list holds a valid
 * item then the bad one, so the error's path has index 1. Returns the literal and the path.
 */
export function literalWith(type: GraphQLInputType, position: Position, bad: string): { literal: string; path: string[] } {
  if (isNonNullType(type)) return literalWith(type.ofType, position, bad);
  if (position.length === 0) return { literal: bad, path: [] };
  const [head, ...rest] = position;
  if (isListType(type)) {
    const inner = literalWith(type.ofType, rest, bad);
    return { literal: `[${sampleLiteral(type.ofType)}, ${inner.literal}]`, path: ["1", ...inner.path] };
  }
  if (!isInputObjectType(type)) throw new Error(`cannot descend into ${String(type)}`);
  const fields = Object.values(type.getFields());
  const inner = literalWith(type.getFields()[head!]!.type, rest, bad);
  const parts = fields
    .filter((f) => f.name !== head && isNonNullType(f.type) && f.defaultValue === undefined)
    .map((f) => `${f.name}: ${sampleLiteral(f.type)}`);
  parts.push(`${head}: ${inner.literal}`);
  return { literal: `{ ${parts.join(", ")} }`, path: [head!, ...inner.path] };
}

/** Arguments of `field`: the required ones with samples, `overrides` as given. */
export function argumentsText(args: readonly GraphQLArgument[], overrides: Record<string, string> = {}): string {
  const parts = args
    .filter((a) => a.name in overrides || (isNonNullType(a.type) && a.defaultValue === undefined))
    .map((a) => `${a.name}: ${overrides[a.name] ?? sampleLiteral(a.type)}`);
  return parts.length > 0 ? `(${parts.join(", ")})` : "";
}

export interface FieldSite {
  operation: "query" | "mutation" | "subscription";
  parentType: GraphQLObjectType;
  field: GraphQLField<unknown, unknown>;
  /** Wraps the field's own text into a whole operation. */
  wrap: (fieldText: string) => string;
  /** The field's arguments: required ones (from `literals` or samples) and `extra`. */
  argsText: (extra?: Record<string, string>) => string;
}

/**
 * Every field of every object type reachable from the root types, each with the shortest way
 * to reach it (required arguments filled with samples; union and interface members through
 * inline fragments).
 */
export function reachableFields(schema: GraphQLSchema, literals: Record<string, string> = {}): FieldSite[] {
  /** Literals given for `Type.field.argument`, e.g. a real id so that the field has a value. */
  const given = (type: GraphQLObjectType, field: GraphQLField<unknown, unknown>) =>
    Object.fromEntries(
      field.args.filter((a) => `${type.name}.${field.name}.${a.name}` in literals).map((a) => [a.name, literals[`${type.name}.${field.name}.${a.name}`]!]),
    );
  const sites: FieldSite[] = [];
  const reached = new Set<string>();
  const queue: { type: GraphQLObjectType; operation: FieldSite["operation"]; wrap: (inner: string) => string }[] = [];
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
    ["subscription", schema.getSubscriptionType()],
  ] as const;
  for (const [operation, type] of roots) {
    if (!type) continue;
    reached.add(type.name);
    queue.push({ type, operation, wrap: (inner) => `${operation} { ${inner} }` });
  }
  while (queue.length > 0) {
    const { type, operation, wrap } = queue.shift()!;
    for (const field of Object.values(type.getFields())) {
      sites.push({ operation, parentType: type, field, wrap, argsText: (extra = {}) => argumentsText(field.args, { ...given(type, field), ...extra }) });
      const named = getNamedType(field.type);
      // Subscriptions select one root field each; nested types are reached through queries.
      if (operation === "subscription") continue;
      const targets = isObjectType(named) ? [named] : isUnionType(named) || isInterfaceType(named) ? schema.getPossibleTypes(named) : [];
      for (const target of targets) {
        if (reached.has(target.name) || operation === "mutation") continue;
        reached.add(target.name);
        const fragment = target === named ? (s: string) => s : (s: string) => `... on ${target.name} { ${s} }`;
        const args = argumentsText(field.args, given(type, field));
        queue.push({ type: target, operation, wrap: (inner) => wrap(`${field.name}${args} { ${fragment(inner)} }`) });
      }
    }
  }
  return sites;
}

/** A selection for a field's result: `{ __typename }` for composite types. */
export function selectionFor(field: GraphQLField<unknown, unknown>): string {
  const named = getNamedType(field.type);
  return isObjectType(named) || isInterfaceType(named) || isUnionType(named) ? " { __typename }" : "";
}

/** 1-based line and column of `offset` in `text`. */
export function locationOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}
