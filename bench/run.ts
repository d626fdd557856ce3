// Runs every benchmark in turn and prints its figures.
const benches = ["./billing-core.ts", "./billrun.ts", "./events.ts", "./fanout.ts", "./exports.ts", "./account-search.ts", "./webhooks.ts", "./imports.ts"];
for (const bench of benches) {
  const module = (await import(bench)) as { main: () => Promise<void> };
  await module.main();
}
