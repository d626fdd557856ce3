import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import type { GraphQLError, ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../../config.ts";

const REPORT = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

/** Depth, alias, directive and token limits (graphql-armor). */
export function armorLimits(limits: Config["security"]): Plugin {
  return EnvelopArmorPlugin({
    // Reported as validation errors (an error list over graphql-ws too), not thrown.
    maxDepth: { n: limits.maxDepth, ...REPORT },
    maxAliases: { n: limits.maxAliases, ...REPORT },
    maxDirectives: { n: limits.maxDirectives, ...REPORT },
    // The token limit stops the parser itself: a parse error.
    maxTokens: { n: limits.maxTokens },
    // Armor's cost limit sees literal `first` values only; connectionLimits (limits.ts) also
    // reads variables and default page sizes, so it is the one cost limit.
    costLimit: { enabled: false },
    // Armor's masking knows one form of suggestion only; noSuggestions (suggestions.ts) knows them all.
    blockFieldSuggestion: { enabled: false },
  }) as Plugin;
}
