import { builder } from "../builder.ts";

builder.subscriptionFields((t) => ({
  heartbeat: t.field({
    type: "DateTime",
    description: "The server's clock, every intervalMs: a connectivity check for WebSocket clients.",
    authScopes: { viewer: true },
    args: { intervalMs: t.arg.int({ defaultValue: 1000 }) },
    subscribe: (_root, { intervalMs }) => ticks(Math.min(Math.max(intervalMs ?? 1000, 100), 60_000)),
    resolve: (time) => time,
  }),
}));

async function* ticks(intervalMs: number): AsyncGenerator<Date> {
  while (true) {
    yield new Date();
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
