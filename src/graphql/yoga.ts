import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { createYoga, maskError, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  NoSchemaIntrospectionCustomRule,
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
  type ValidationContext,
  type ValueNode,
  visit,
} from "graphql";
import type { App } from "../app.ts";
import type { Config } from "../config.ts";
import { authenticateToken } from "../auth/users.ts";
import { AppError, ValidationError } from "../errors.ts";
import type { Context } from "./context.ts";
import { schema } from "./schema.ts";
import { useLiteralErrorPaths } from "./literals.ts";
import { useNormalisedText } from "./text.ts";
import { observabilityPlugins } from "../observability/graphql.ts";

/** What the server hands to the context factory: an HTTP request, or a WebSocket operation. */
interface ServerContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
  socket?: { close: (code: number, reason: string) => void; terminate: () => void };
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

type Limits = Config["security"];

export function createGraphQLServer(app: App): Yoga {
  const limits = app.config.security;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // GraphiQL is bundled (no CDN: the service may run offline). It runs subscriptions over
    // Server-Sent Events on this URL, which carry the headers set in its Headers tab (its
    // WebSocket transport would take connection params only, never those headers).
    graphiql: app.config.isDevelopment
      ? { title: "Billrun", subscriptionsProtocol: "SSE", defaultQuery: DEFAULT_QUERY }
      : false,
    renderGraphiQL,
    logging: {
      debug: (...args) => app.log.debug(args.map(String).join(" ")),
      info: (...args) => app.log.info(args.map(String).join(" ")),
      warn: (...args) => app.log.warn(args.map(String).join(" ")),
      error: (...args) => app.log.error(args.map(String).join(" ")),
    },
    // Stack traces reach the caller only in development proper (never in test or production).
    maskedErrors: { maskError: errorMasker(app), isDev: app.config.env === "development" },
    maxRequestBodySize: limits.maxBodyBytes,
    cors: limits.corsOrigins ? { origin: limits.corsOrigins, methods: ["GET", "POST"], credentials: false } : undefined,
    plugins: [
      useRequestId(),
      ...observabilityPlugins(app.config),
      csrfPrevention(CSRF_HEADERS),
      EnvelopArmorPlugin({
        // Reported as validation errors (an error list over graphql-ws too), not thrown.
        maxDepth: { n: limits.maxDepth, ...REPORT },
        maxAliases: { n: limits.maxAliases, ...REPORT },
        maxDirectives: { n: limits.maxDirectives, ...REPORT },
        // The token limit stops the parser itself: a parse error.
        maxTokens: { n: limits.maxTokens },
        // Armor's cost limit sees literal `first` values only; connectionLimits below also
        // reads variables and default page sizes, so it is the one cost limit.
        costLimit: { enabled: false },
        // Armor's masking knows one form of suggestion only; noSuggestions below knows them all.
        blockFieldSuggestion: { enabled: false },
      }) as Plugin,
      ...(limits.fieldSuggestions ? [] : [noSuggestions()]),
      ...(limits.introspection ? [] : [noIntrospection()]),
      connectionLimits(limits),
      endOnAccessLoss(app),
      useNormalisedText(),
      // Last, so that it wraps whatever validation the plugins above set up.
      useLiteralErrorPaths(),
    ],
    context: async ({ request, connectionParams, socket }): Promise<Context> => {
      const authorization = request?.headers.get("authorization") ?? stringParam(connectionParams?.authorization);
      const accessMark = app.access.mark();
      const auth = await authenticateToken(app.db, authorization);
      return {
        app,
        db: app.db,
        user: auth?.user ?? null,
        tokenId: auth?.tokenId,
        accessMark,
        requestId: currentRequestId() ?? randomUUID(),
        closeConnection: socket
          ? (code, reason) => {
              socket.close(code, reason);
              // A client that does not read would never complete the closing handshake.
              socket.terminate();
            }
          : undefined,
      };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Request ids

const requestIds = new AsyncLocalStorage<string>();

/** The id of the HTTP request (or WebSocket operation) being handled, for log lines. */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}

export function withRequestId<T>(requestId: string, work: () => T): T {
  return requestIds.run(requestId, work);
}

/** A caller's `x-request-id` when it is a sane token (it goes into logs), else a fresh one. */
export function requestIdFrom(header: string | null | undefined): string {
  return header && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : randomUUID();
}

/** Every request runs with its id in scope (for the log lines of masked errors) and answers with it in `x-request-id`. */
function useRequestId(): Plugin {
  return {
    instrumentation: {
      request: ({ request }, wrapped) => requestIds.run(requestIdFrom(request.headers.get("x-request-id")), wrapped),
    },
    onResponse({ response }) {
      const id = currentRequestId();
      if (id && !response.headers.has("x-request-id")) response.headers.set("x-request-id", id);
    },
  };
}

/**
 * Unexpected errors reach the caller as "Unexpected error." and the log in full, with the
 * request id. An error the caller can act on (NOT_FOUND, VALIDATION...) thrown where no result
 * union catches it (a subscription's arguments, say) is a top-level error with its code: it is
 * the caller's mistake, not ours.
 */
export function errorMasker(app: App, requestId?: string) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof AppError) {
      return new GraphQLError(original.message, {
        nodes: error instanceof GraphQLError ? error.nodes : undefined,
        path: error instanceof GraphQLError ? error.path : undefined,
        extensions: { code: original.code, ...(original instanceof ValidationError ? { field: original.field } : {}) },
      });
    }
    const masked = maskError(error, message, isDev);
    if (masked !== error) app.log.error({ err: error, requestId: requestId ?? currentRequestId() }, "unexpected error");
    return masked;
  };
}

// ---------------------------------------------------------------------------------------------
// Security changes on open streams

/**
 * A subscription served over HTTP (Server-Sent Events) is watched like a WebSocket: when its
 * token is revoked, or its user disabled or given another role, it ends at once with one last
 * error result (UNAUTHENTICATED or FORBIDDEN) and nothing after it. (WebSocket connections are
 * watched whole, in ws.ts.)
 */
function endOnAccessLoss(app: App): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as unknown as Context;
      // Over WebSockets the connection is watched; without a user the subscription was refused.
      if (context.closeConnection || !context.user || !context.tokenId) return;
      const { user, tokenId, accessMark } = context;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isResult(result)) return;
          const stream = endable(result as AsyncIterableIterator<ExecutionResult>);
          const unwatch = app.access.watch(
            {
              tokenId,
              userId: user.id,
              role: user.role,
              end: (loss) => stream.end({ errors: [new GraphQLError(`Subscription ended: ${loss.message}.`, { extensions: { code: loss.code } })] }),
            },
            accessMark ?? app.access.mark(),
          );
          stream.finally(unwatch);
          setResult(stream.iterator);
        },
      };
    },
  };
}

/**
 * `source`, with a way to end it from outside: `end(last)` makes the iterator yield `last` and
 * finish, whatever the source was about to yield, and releases the source.
 */
function endable<T>(source: AsyncIterableIterator<T>) {
  let ended: { last: T; sent: boolean } | null = null;
  let wake: (() => void) | null = null;
  const woken = () => new Promise<void>((resolve) => (wake = resolve));
  const cleanups: (() => void)[] = [];
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    for (const cleanup of cleanups) cleanup();
  };
  const afterEnd = (): IteratorResult<T> => {
    if (ended && !ended.sent) {
      ended.sent = true;
      return { value: ended.last, done: false };
    }
    finish();
    return { value: undefined, done: true };
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (ended) return afterEnd();
      const interrupted = woken();
      const result = await Promise.race([source.next(), interrupted.then(() => null)]);
      if (ended || result === null) return afterEnd();
      if (result.done) finish();
      return result;
    },
    async return() {
      ended ??= { last: undefined as T, sent: true };
      finish();
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      finish();
      await source.return?.();
      throw error;
    },
  };
  return {
    iterator,
    end(last: T) {
      if (ended) return;
      ended = { last, sent: false };
      wake?.();
      void source.return?.();
    },
    finally(cleanup: () => void) {
      if (finished) cleanup();
      else cleanups.push(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CSRF

/**
 * Any one of these headers makes a browser send a CORS preflight first, so a page on another
 * site cannot send the request "simply" (like a form or an <img> would). GraphiQL and fetch
 * clients send JSON, which is preflighted anyway; the headers are for GET and multipart.
 */
const CSRF_HEADERS = ["x-graphql-yoga-csrf", "apollo-require-preflight", "authorization"];
const SIMPLE_CONTENT_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/** Refuses GraphQL requests a browser could send cross-site without a preflight (what graphql-yoga's CSRF plugin does). */
function csrfPrevention(headers: string[]): Plugin {
  return {
    onRequestParse({ request }) {
      const contentType = request.headers.get("content-type")?.split(";")[0]!.trim().toLowerCase();
      const preflighted = !!contentType && !SIMPLE_CONTENT_TYPES.includes(contentType);
      if (preflighted || headers.some((name) => request.headers.has(name))) return;
      throw new GraphQLError(
        `Request refused to prevent cross-site request forgery: send it as application/json, or with one of the headers ${headers.join(", ")}.`,
        { extensions: { code: "CSRF_PREVENTED", http: { status: 403 } } },
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Query limits

/**
 * A refused request is the client's mistake. As for parse and validation errors, yoga follows
 * GraphQL over HTTP: status 400 for `accept: application/graphql-response+json`, 200 for
 * plain application/json.
 */
const badRequest = () => ({ spec: true, status: 400 });

const REPORT = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

function noIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/**
 * `first`/`last` within 0..maxPageSize, and the connection-aware cost within maxCost, checked
 * before anything executes. It needs the variables (a validation rule does not see them, and
 * yoga caches validation per document), so it runs at execute/subscribe time.
 */
interface LimitHookPayload {
  args: ExecutionArgs;
  setResultAndStopExecution: (result: ExecutionResult) => void;
}

function connectionLimits(limits: Limits): Plugin {
  // Shared by execution and subscription: refuse over-limit operations.
  const guard = ({ args, setResultAndStopExecution }: LimitHookPayload) => {
    const errors = operationLimitErrors(args.schema, args.document, args.operationName, args.variableValues, limits);
    if (errors.length > 0) setResultAndStopExecution({ errors });
  };
  return { onExecute: guard, onSubscribe: guard };
}

/**
 * graphql-js names schema members in its messages ("Did you mean ...?": fields, arguments,
 * input fields, enum values, types, inline fragments), in validation errors and in variable
 * coercion errors alike: a schema map for whoever probes the API. In production every such
 * hint is removed, wherever the error arises: validation (HTTP, SSE and WebSockets all
 * validate through envelop), execution (variable coercion) and subscription set-up.
 */
function noSuggestions(): Plugin {
  const strip = ({ result, setResult }: { result: unknown; setResult: (result: ExecutionResult) => void }) => {
    if (isResult(result) && result.errors?.some(hasSuggestion)) setResult({ ...result, errors: result.errors.map(withoutSuggestions) });
  };
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        const errors = result as readonly GraphQLError[];
        if (errors.some(hasSuggestion)) setResult(errors.map(withoutSuggestions));
      },
    onExecute: () => ({ onExecuteDone: strip as never }),
    onSubscribe: () => ({ onSubscribeResult: strip as never }),
  };
}

function isResult(value: unknown): value is ExecutionResult {
  return typeof value === "object" && value !== null && !(Symbol.asyncIterator in value);
}

/** graphql-js appends its hints at the end of a message, always as " Did you mean ...?". */
const SUGGESTION = /\s*Did you mean\b[\s\S]*$/;

/** A hint of graphql-js's own (a resolver's error, whatever its text, is left as it is). */
function hasSuggestion(error: GraphQLError): boolean {
  const own = !error.originalError || error.originalError instanceof GraphQLError;
  return own && SUGGESTION.test(error.message);
}

/** The error without its hint (same locations, path and extensions). */
export function withoutSuggestions(error: GraphQLError): GraphQLError {
  if (!hasSuggestion(error)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ""), {
    nodes: error.nodes,
    source: error.nodes ? undefined : error.source,
    positions: error.nodes ? undefined : error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/** Page size assumed for a connection asked without `first`/`last` (Pothos' default). */
const DEFAULT_PAGE_SIZE = 20;
/** Items assumed for a list that is not a connection (a document's items, a run's status history...). */
const LIST_FACTOR = 10;

/** A lone UTF-16 surrogate: half of a character, which no Unicode encoding can carry. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL text cannot hold this string, or null when it can. */
function unstorableText(value: string): string | null {
  if (value.includes("\u0000")) return "contains the NUL character (\\u0000), which text cannot hold";
  if (LONE_SURROGATE.test(value)) return "contains a lone UTF-16 surrogate, which is not Unicode text";
  return null;
}

/**
 * A string PostgreSQL text cannot hold (a NUL character, or half of a surrogate pair, which
 * would otherwise reach the database mangled or fail there), in a variable or a literal, is
 * refused up front with a clear VALIDATION error.
 */
function unstorableTextError(document: DocumentNode, variables: Record<string, unknown> | null | undefined): GraphQLError | null {
  const refuse = (where: string, why: string, field?: string[]) =>
    new GraphQLError(`${where} ${why}`, {
      extensions: { code: "VALIDATION", ...(field ? { field } : {}), http: badRequest() },
    });
  const search = (value: unknown, path: string[]): { path: string[]; why: string } | null => {
    if (typeof value === "string") {
      const why = unstorableText(value);
      return why ? { path, why } : null;
    }
    if (value === null || typeof value !== "object") return null;
    for (const [key, item] of Object.entries(value)) {
      const found = search(item, [...path, key]);
      if (found) return found;
    }
    return null;
  };
  const inVariables = search(variables ?? {}, []);
  if (inVariables) return refuse(`$${inVariables.path.join(".")}`, inVariables.why, inVariables.path);
  // The parser refuses lone surrogates in literals; a NUL gets into one as a \u escape or as
  // itself (the query text came as JSON, which can carry it). Most documents need no walk.
  const body = document.loc?.source.body;
  if (body !== undefined && !body.includes("\\u") && !body.includes("\u0000")) return null;
  let literal: string | null = null;
  visit(document, {
    StringValue(node) {
      literal ??= unstorableText(node.value);
    },
  });
  return literal ? refuse("a string literal", literal) : null;
}

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
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
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

export function stringParam(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

const DEFAULT_QUERY = `# Billrun. Add your token under Headers: {"Authorization": "Bearer <token>"}
query Accounts {
  me { email role }
  accounts(first: 5) {
    totalCount
    edges { node { accountNumber name currency billCycleDay } }
  }
}
`;
