import {
  GraphQLError,
  Kind,
  specifiedRules,
  ValuesOfCorrectTypeRule,
  type ASTNode,
  type ASTVisitor,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * Where an input value sits, as a caller wrote it: the argument (or `$variable` for a default
 * value) then each input field and list index, e.g. ["input", "charges", "1", "price"].
 * `chain` runs from the document down to the value, `keys[i]` leading from chain[i] to chain[i + 1].
 */
export function inputPathOf(chain: readonly (ASTNode | readonly ASTNode[])[], keys: readonly (string | number)[]): string[] | null {
  let path: string[] | null = null;
  chain.forEach((ancestor, i) => {
    if (Array.isArray(ancestor)) return;
    const node = ancestor as ASTNode;
    if (node.kind === Kind.ARGUMENT) path = [node.name.value];
    else if (node.kind === Kind.VARIABLE_DEFINITION) path = [`$${node.variable.name.value}`];
    else if (path && node.kind === Kind.OBJECT_FIELD) path.push(node.name.value);
    // ancestors[i][keys[i]] is the next ancestor: after a list's `values` comes the index.
    else if (path && node.kind === Kind.LIST && typeof keys[i + 1] === "number") path.push(String(keys[i + 1]));
  });
  return path;
}

/** "input.charges[1].price", the way graphql-js prints a variable's path. */
export function printInputPath(path: readonly string[]): string {
  return path.map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join("");
}

/** The field (or directive) whose argument holds the value, for the message. */
function ownerOf(ancestors: readonly (ASTNode | readonly ASTNode[])[]): string | null {
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const node = ancestors[i] as ASTNode;
    if (Array.isArray(node)) continue;
    if (node.kind === Kind.FIELD) return `field "${node.name.value}"`;
    if (node.kind === Kind.DIRECTIVE) return `directive "@${node.name.value}"`;
    if (node.kind === Kind.VARIABLE_DEFINITION) return `the default value of "$${node.variable.name.value}"`;
  }
  return null;
}

/**
 * graphql-js' ValuesOfCorrectTypeRule, with every error it reports located and placed: a
 * literal's error (a custom scalar's `parseLiteral` throwing, a missing input field, an
 * unknown enum value...) carries the literal's node (so `locations`), names the input path in
 * its message as graphql-js does for variables, and gives it as `extensions.field`, with
 * `extensions.code` VALIDATION.
 */
export const ValuesOfCorrectTypeWithPathRule: ValidationRule = (context: ValidationContext): ASTVisitor => {
  let current: { chain: (ASTNode | readonly ASTNode[])[]; keys: readonly (string | number)[]; node: ASTNode } | null = null;
  const placed = Object.create(context) as ValidationContext;
  placed.reportError = (error: GraphQLError) => {
    if (!current) return context.reportError(error);
    const path = inputPathOf(current.chain, current.keys);
    const owner = ownerOf(current.chain);
    const where = path ? `at "${printInputPath(path)}"${owner ? ` of ${owner}` : ""}` : null;
    context.reportError(
      new GraphQLError(where ? `Invalid value ${where}: ${error.message}` : error.message, {
        nodes: error.nodes && error.nodes.length > 0 ? error.nodes : current.node,
        originalError: error.originalError,
        extensions: { ...error.extensions, code: "VALIDATION", ...(path ? { field: path } : {}) },
      }),
    );
  };
  const inner = ValuesOfCorrectTypeRule(placed) as Record<string, unknown>;
  const visitor: Record<string, unknown> = {};
  for (const [kind, handler] of Object.entries(inner)) {
    const enter = typeof handler === "function" ? handler : (handler as { enter?: unknown }).enter;
    if (typeof enter !== "function") {
      visitor[kind] = handler;
      continue;
    }
    visitor[kind] = (
      node: ASTNode,
      key: unknown,
      parent: ASTNode | readonly ASTNode[] | undefined,
      keys: readonly (string | number)[],
      ancestors: readonly (ASTNode | readonly ASTNode[])[],
    ) => {
      // chain[i][keys[i]] is chain[i + 1], down to the node itself.
      current = { chain: parent === undefined ? [...ancestors, node] : [...ancestors, parent, node], keys, node };
      try {
        return enter.call(inner, node, key, parent, keys, ancestors);
      } finally {
        current = null;
      }
    };
  }
  return visitor as ASTVisitor;
};

/** Puts ValuesOfCorrectTypeWithPathRule in the place of graphql-js' own rule. */
export function useLiteralErrorPaths(): Plugin {
  const swap = (rule: ValidationRule) =>
    rule === ValuesOfCorrectTypeRule || rule.name === ValuesOfCorrectTypeRule.name ? ValuesOfCorrectTypeWithPathRule : rule;
  return {
    onValidate({ validateFn, setValidationFn }) {
      setValidationFn((schema, document, rules, ...rest) => validateFn(schema, document, (rules ?? specifiedRules).map(swap), ...rest));
    },
  };
}
