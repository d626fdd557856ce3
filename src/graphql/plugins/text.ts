import { visit, type DocumentNode, type ExecutionArgs } from "graphql";
import type { Plugin } from "graphql-yoga";

// Every text a caller sends is Unicode NFC before anything reads it: "Café" typed with a
// precomposed é or with e + combining accent is one string, whatever field it is stored in,
// compared with or looked up by. Done once here, for every String (and every other text-borne
// value: ids, dates, cursors are ASCII and unchanged), in variables and literals alike.

/**
 * A copy of JSON `value` (variables as sent) with every string in NFC; the same value when it
 * has no text outside ASCII (NFC already), which is most requests. Walked without recursion:
 * variables may nest thousands deep.
 */
export function nfcDeep<T>(value: T): T {
  if (typeof value === "string") return value.normalize("NFC") as T;
  try {
    const json = JSON.stringify(value);
    if (json === undefined || !/[^\x00-\x7f]/.test(json)) return value;
  } catch {
    // Too deep to print: walk it anyway.
  }
  const root: Record<string, unknown> = { value };
  const pending: [Record<string | number, unknown>, string | number][] = [[root, "value"]];
  while (pending.length > 0) {
    const [holder, key] = pending.pop()!;
    const item = holder[key];
    if (typeof item === "string") {
      holder[key] = item.normalize("NFC");
    } else if (Array.isArray(item)) {
      const copy = [...item];
      holder[key] = copy;
      copy.forEach((_, i) => pending.push([copy as unknown as Record<number, unknown>, i]));
    } else if (item !== null && typeof item === "object") {
      const copy: Record<string, unknown> = { ...item };
      holder[key] = copy;
      for (const field of Object.keys(copy)) pending.push([copy, field]);
    }
  }
  return root.value as T;
}

/** The document with its string literals in NFC (the same document when none changes). */
export function nfcDocument(document: DocumentNode): DocumentNode {
  // ASCII text, and escapes of it, is NFC already: most documents need no walk.
  const body = document.loc?.source.body;
  if (body !== undefined && !/[^\x00-\x7f]|\\u/.test(body)) return document;
  return visit(document, {
    StringValue(node) {
      const value = node.value.normalize("NFC");
      return value === node.value ? undefined : { ...node, value };
    },
  });
}

/** Normalises an operation's text in place, before it executes. */
export function normaliseOperationText(args: Pick<ExecutionArgs, "document" | "variableValues">): void {
  args.document = nfcDocument(args.document);
  if (args.variableValues) args.variableValues = nfcDeep(args.variableValues);
}

/** Every query, mutation and subscription reads its text in NFC. */
export function useNormalisedText(): Plugin {
  return {
    onExecute({ args }) {
      normaliseOperationText(args);
    },
    onSubscribe({ args }) {
      normaliseOperationText(args);
    },
  };
}
