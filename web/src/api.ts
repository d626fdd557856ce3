// The public GraphQL API, and nothing else: queries and mutations over fetch, subscriptions over
// graphql-ws, all with the typed documents codegen makes from schema/operations/dashboard.graphql.
import { print } from "graphql";
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

const ENDPOINT = "/graphql";
const TOKEN_KEY = "billrun.token";

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  resetLive();
}

/** A top-level GraphQL error (not an `... on Error` member of a result union). */
export class ApiError extends Error {
  readonly code: string | null;
  constructor(message: string, code: string | null) {
    super(message);
    this.code = code;
  }
  get unauthenticated(): boolean {
    return this.code === "UNAUTHENTICATED";
  }
}

let onUnauthenticated: () => void = () => {};

/** What to do when the server no longer accepts the token (e.g. show the sign-in screen). */
export function whenUnauthenticated(handler: () => void): void {
  onUnauthenticated = handler;
}

interface GraphQLResponse<R> {
  data?: R | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Runs a query or mutation; top-level errors throw ApiError, errors in the data are the caller's. */
export async function request<R, V>(document: TypedDocumentNode<R, V>, variables: V): Promise<R> {
  const token = getToken();
  let response: Response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: print(document), variables }),
    });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", "NETWORK");
  }
  let body: GraphQLResponse<R>;
  try {
    body = (await response.json()) as GraphQLResponse<R>;
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText}.`, "HTTP");
  }
  const error = body.errors?.[0];
  if (error) {
    const apiError = new ApiError(error.message, error.extensions?.code ?? null);
    if (apiError.unauthenticated) onUnauthenticated();
    throw apiError;
  }
  return body.data as R;
}

// --- live ----------------------------------------------------------------------------------

export type LiveState = "connecting" | "live" | "offline";
type LiveListener = (state: LiveState) => void;

let client: Client | null = null;
let liveState: LiveState = "offline";
const stateListeners = new Set<LiveListener>();
const reconnectListeners = new Set<() => void>();

function setLiveState(state: LiveState): void {
  liveState = state;
  for (const listener of stateListeners) listener(state);
}

/** Follows the WebSocket's state (for the "Live" indicator). */
export function onLiveState(listener: LiveListener): () => void {
  stateListeners.add(listener);
  listener(liveState);
  return () => stateListeners.delete(listener);
}

/**
 * Called after the WebSocket came back from a drop: subscriptions resume live, and a screen
 * reloads what it shows so that nothing that happened meanwhile is missed.
 */
export function onReconnect(listener: () => void): () => void {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}

function liveClient(): Client {
  if (client) return client;
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${ENDPOINT}`;
  client = createClient({
    url,
    lazy: true,
    keepAlive: 15_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    // 4403: the token was refused. Anything else (server restart, network) is retried.
    shouldRetry: (event) => !(event && typeof event === "object" && "code" in event && event.code === 4403),
    connectionParams: () => ({ authorization: `Bearer ${getToken() ?? ""}` }),
    on: {
      connecting: () => setLiveState("connecting"),
      connected: (_socket, _payload, wasRetry) => {
        setLiveState("live");
        if (wasRetry) for (const listener of reconnectListeners) listener();
      },
      closed: (event) => {
        setLiveState("offline");
        if (event && typeof event === "object" && "code" in event && event.code === 4403) onUnauthenticated();
      },
    },
  });
  return client;
}

function resetLive(): void {
  const old = client;
  client = null;
  if (old) void old.dispose();
  setLiveState("offline");
}

/** Subscribes with a typed document; returns the function that stops it. */
export function subscribe<R, V>(
  document: TypedDocumentNode<R, V>,
  variables: V,
  handlers: { next: (data: R) => void; error?: (error: ApiError) => void; complete?: () => void },
): () => void {
  return liveClient().subscribe<R>(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors?.length) {
          handlers.error?.(new ApiError(result.errors[0]!.message, (result.errors[0]!.extensions?.code as string | undefined) ?? null));
          return;
        }
        if (result.data) handlers.next(result.data as R);
      },
      error: (error: unknown) => {
        if (Array.isArray(error)) handlers.error?.(new ApiError(String(error[0]?.message ?? "subscription refused"), null));
        else if (error instanceof Error) handlers.error?.(new ApiError(error.message, null));
        // A CloseEvent: the client retries by itself, or reports 4403 through `closed`.
      },
      complete: () => handlers.complete?.(),
    },
  );
}

/** The `... on Error` member of a mutation's result union, if the result is one. */
export interface ResultError {
  __typename: string;
  code: string;
  message: string;
  field?: string[] | null;
}

export function asError(result: { __typename: string }): ResultError | null {
  return result.__typename.endsWith("Error") ? (result as unknown as ResultError) : null;
}

// --- files (PDFs, CSV exports) ------------------------------------------------------------

/**
 * Downloads a document route (`/documents/...pdf`, `/exports/...csv`) with the bearer token: a
 * plain link cannot carry it, so the file is fetched, then saved from a blob under the name the
 * server gives in Content-Disposition. Throws ApiError when the server refuses.
 */
export async function downloadFile(path: string, fallbackName: string): Promise<void> {
  const token = getToken();
  let response: Response;
  try {
    response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch {
    throw new ApiError("The server cannot be reached. Check your connection and try again.", "NETWORK");
  }
  if (!response.ok) {
    let error: { message?: string; extensions?: { code?: string } } | undefined;
    try {
      error = ((await response.json()) as GraphQLResponse<unknown>).errors?.[0];
    } catch {
      // not JSON: the status says enough
    }
    const apiError = new ApiError(error?.message ?? `The server answered ${response.status} ${response.statusText}.`, error?.extensions?.code ?? null);
    if (response.status === 401) onUnauthenticated();
    throw apiError;
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  try {
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  } finally {
    // After the click has handed the blob to the browser's download.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
