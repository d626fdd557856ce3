/**
 * A refused request is the client's mistake. As for parse and validation errors, yoga follows
 * GraphQL over HTTP: status 400 for `accept: application/graphql-response+json`, 200 for
 * plain application/json.
 */
export const badRequest = () => ({ spec: true, status: 400 });
