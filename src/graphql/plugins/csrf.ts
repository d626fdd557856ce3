import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";

/**
 * Any one of these headers makes a browser send a CORS preflight first, so a page on another
 * site cannot send the request "simply" (like a form or an <img> would). GraphiQL and fetch
 * clients send JSON, which is preflighted anyway; the headers are for GET and multipart.
 */
export const CSRF_HEADERS = ["x-graphql-yoga-csrf", "apollo-require-preflight", "authorization"];

/**
 * Refuses GraphQL requests a browser could send cross-site without a preflight: yoga's CSRF
 * plugin decides, with `headers` as the ones that exempt a request. Its refusal is re-worded to
 * say what to send instead and to carry our code, `CSRF_PREVENTED` (HTTP 403).
 */
export function csrfPrevention(headers: string[] = CSRF_HEADERS): Plugin {
  const check = useCSRFPrevention({ requestHeaders: headers }).onRequestParse!;
  return {
    onRequestParse(payload) {
      try {
        return check(payload);
      } catch {
        throw new GraphQLError(
          `Request refused to prevent cross-site request forgery: send it as application/json, or with one of the headers ${headers.join(", ")}.`,
          { extensions: { code: "CSRF_PREVENTED", http: { status: 403 } } },
        );
      }
    },
  };
}
