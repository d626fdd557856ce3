import { visit, type DocumentNode, type ExecutionArgs } from "graphql";
import type { Plugin } from "graphql-yoga";

// Every text a caller sends is Unicode NFC before anything reads it: "Café" typed with a
// precomposed é or with e + combining accent is one string, whatever field it is stored in,
// compared with or looked up by. Done once here, for every String (and every other text-borne
// value: ids, dates, cursors are ASCII and unchanged), in variables and literals alike.

/** A copy of `value` with every string in NFC (the same object when nothing changes). */
export function nfcDeep<T>(value: T): T {
  if (typeof value === "string") return value.normalize("NFC") as T;
  if (Array.isArray(value)) {
    const items = value.map(nfcDeep);
    return (items.some((item, i) => item !== value[i]) ? items : value) as T;
  }
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    let changed = false;
    const entries = Object.entries(value).map(([key, item]) => {
      const normalised = nfcDeep(item);
      changed ||= normalised !== item;
      return [key, normalised] as const;
    });
    return (changed ? Object.fromEntries(entries) : value) as T;
  }
  return value;
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
