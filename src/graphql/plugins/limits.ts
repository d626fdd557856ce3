import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../../config.ts";
import { badRequest } from "./bad-request.ts";
import { unstorableTextError } from "./unstorable-text.ts";

type Limits = Config["security"];

interface LimitHookPayload {
  args: ExecutionArgs;
  setResultAndStopExecution: (result: ExecutionResult) => void;
}

/**
 * `first`/`last` within 0..maxPageSize, and the connection-aware cost within maxCost, checked
 * before anything executes. It needs the variables (a validation rule does not see them, and
 * yoga caches validation per document), so it runs at execute/subscribe time.
 */
export function connectionLimits(limits: Limits): Plugin {
  // Shared by execution and subscription: refuse over-limit operations.
  const guard = ({ args, setResultAndStopExecution }: LimitHookPayload) => {
    const errors = operationLimitErrors(args.schema, args.document, args.operationName, args.variableValues, limits);
    if (errors.length > 0) setResultAndStopExecution({ errors });
  };
  return { onExecute: guard, onSubscribe: guard };
}

/** Page size assumed for a connection asked without `first`/`last` (Pothos' default). */
const DEFAULT_PAGE_SIZE = 20;
/** Items assumed for a list that is not a connection (a document's items, a run's status history...). */
const LIST_FACTOR = 10;

/**
 * What an operation may not ask, refused before anything runs, over HTTP and WebSockets alike:
 * text PostgreSQL cannot store, page sizes outside 0..maxPageSize (VALIDATION), and a cost
 * above maxCost, where each field costs 1 and a field's subtree counts once per item its list
 * can hold: `first`, `last` or 20 under a connection, 10 under any other list.
 */
export function operationLimitErrors(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  limits: Pick<Limits, "maxCost" | "maxPageSize">,
): GraphQLError[] {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  // Unknown or ambiguous operation: execution reports it.
  if (!operation) return [];
  const unstorable = unstorableTextError(document, variables);
  if (unstorable) return [unstorable];
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const vars = variables ?? {};
  const errors: GraphQLError[] = [];
  const memo = new Map<string, number>();
  const visiting = new Set<string>();

  const intArgument = (node: FieldNode, name: string, definition: GraphQLField<unknown, unknown>): number | undefined => {
    const argument = node.arguments?.find((a) => a.name.value === name);
    if (!argument) {
      const fallback = definition.args.find((a) => a.name === name)?.defaultValue;
      return typeof fallback === "number" ? fallback : undefined;
    }
    return intValue(argument.value);
  };
  const intValue = (value: ValueNode): number | undefined => {
    if (value.kind === Kind.INT) return Number(value.value);
    if (value.kind !== Kind.VARIABLE) return undefined;
    const given = vars[value.name.value];
    if (typeof given === "number" && Number.isInteger(given)) return given;
    if (given !== undefined) return undefined;
    const declared = operation.variableDefinitions?.find((v) => v.variable.name.value === value.name.value)?.defaultValue;
    return declared?.kind === Kind.INT ? Number(declared.value) : undefined;
  };

  const pageSizeOf = (node: FieldNode, definition: GraphQLField<unknown, unknown>, path: string[]): number | undefined => {
    if (!definition.args.some((a) => a.name === "first" || a.name === "last")) return undefined;
    let size: number | undefined;
    for (const name of ["first", "last"]) {
      const value = intArgument(node, name, definition);
      if (value === undefined) continue;
      if (value < 0 || value > limits.maxPageSize) {
        errors.push(
          new GraphQLError(`${name} must be between 0 and ${limits.maxPageSize} (was ${value}) on ${path.join(".")}`, {
            nodes: [node],
            extensions: { code: "VALIDATION", field: [...path, name], http: badRequest() },
          }),
        );
      }
      size ??= Math.min(Math.max(value, 0), limits.maxPageSize);
    }
    return size ?? DEFAULT_PAGE_SIZE;
  };

  const cost = (set: SelectionSetNode, type: GraphQLNamedType | undefined, pageSize: number | undefined, path: string[]): number => {
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        // Introspection is governed by BILLRUN_INTROSPECTION, not by cost.
        if (name.startsWith("__")) continue;
        const definition = type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[name] : undefined;
        if (!definition || !selection.selectionSet) {
          total += 1;
          continue;
        }
        const fieldPath = [...path, selection.alias?.value ?? name];
        const innerPageSize = pageSizeOf(selection, definition, fieldPath);
        const inner = 1 + cost(selection.selectionSet, getNamedType(definition.type), innerPageSize, fieldPath);
        const multiplier = isListType(getNullableType(definition.type)) ? (pageSize ?? LIST_FACTOR) : 1;
        total += multiplier * inner;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const narrowed = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        total += cost(selection.selectionSet, narrowed ?? undefined, pageSize, path);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || visiting.has(fragment.name.value)) continue;
        // A fragment's cost does not depend on where it is spread, except through the page size:
        // computed once, however often it is spread (no exponential walk through nested spreads).
        const key = `${fragment.name.value}\u0000${pageSize ?? ""}`;
        let fragmentCost = memo.get(key);
        if (fragmentCost === undefined) {
          visiting.add(fragment.name.value);
          fragmentCost = cost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined, pageSize, path);
          visiting.delete(fragment.name.value);
          memo.set(key, fragmentCost);
        }
        total += fragmentCost;
      }
    }
    return total;
  };

  const root = schema.getRootType(operation.operation) ?? undefined;
  const total = cost(operation.selectionSet, root, undefined, []);
  if (errors.length > 0) return errors;
  if (total > limits.maxCost) {
    return [
      new GraphQLError(
        `Query cost ${total} exceeds the limit of ${limits.maxCost}: ask for fewer items (first/last) or fewer nested lists. ` +
          `Each field costs 1, counted once per item of the connections (first/last, default ${DEFAULT_PAGE_SIZE}) and lists (${LIST_FACTOR}) above it.`,
        { extensions: { code: "QUERY_TOO_COSTLY", cost: total, maxCost: limits.maxCost, http: badRequest() } },
      ),
    ];
  }
  return [];
}
