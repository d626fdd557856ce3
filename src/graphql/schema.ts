import { builder } from "./builder.ts";
import "./types/scalars.ts";
import "./types/errors.ts";
import "./types/users.ts";
import "./types/accounts.ts";
import "./types/documents.ts";
import "./types/billruns.ts";
import "./types/schedules.ts";
import "./types/events.ts";
import "./types/webhooks.ts";
import "./types/imports.ts";
import "./types/system.ts";

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema();
