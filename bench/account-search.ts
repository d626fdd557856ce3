// accounts(search:) over 1,000,000 accounts (BENCH_SEARCH_ACCOUNTS), through the GraphQL API on
// the embedded PostgreSQL: prints the time of a first page (with totalCount) for a rare name, a
// common name, part of an email, a number prefix and a two-letter term (no trigram: the
// account-number index is walked instead).
import { ensureAdmin } from "../src/auth/users.ts";
import { createGraphQLServer } from "../src/graphql/yoga.ts";
import { startBenchApp, withBenchDatabase } from "./support.ts";

const ACCOUNTS = Number(process.env.BENCH_SEARCH_ACCOUNTS ?? 1_000_000);
const TOKEN = "brt_bench_search_token_0123456789";

export async function main(): Promise<void> {
  await withBenchDatabase("billrun-bench-", async ({ url }) => {
    const { app } = await startBenchApp(url, { BILLRUN_WORKER: "false" });
    await ensureAdmin(app.db, TOKEN);
    const yoga = createGraphQLServer(app);
    let started = Date.now();
    await app.pool.query(
      `INSERT INTO accounts (id, account_number, name, currency, bill_cycle_day, batch, bill_to_email, updated_at)
       SELECT gen_random_uuid(), 'S-' || lpad(n::text, 8, '0'),
              (ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Stark','Wayne','Wonka'])[1 + n % 8] || ' ' || md5(n::text)::varchar(10) || ' Ltd',
              'USD', 1, 1 + n % 50, 'billing+' || n || '@' || md5((n * 7)::text)::varchar(8) || '.example', now()
         FROM generate_series(1, $1) AS n`,
      [ACCOUNTS],
    );
    await app.pool.query("VACUUM ANALYZE accounts");
    console.log(`account search: seeded ${ACCOUNTS} accounts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const rare = (await app.pool.query<{ name: string }>("SELECT name FROM accounts WHERE account_number = 'S-00424242'")).rows[0]!.name.split(" ")[1]!.slice(
      2,
      8,
    );
    const median = async (query: string, term: string): Promise<{ ms: number; total?: number }> => {
      const times: number[] = [];
      let total: number | undefined;
      for (let i = 0; i < 5; i++) {
        started = performance.now();
        const response = await yoga.fetch("http://bench/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ query, variables: { s: term } }),
        });
        const body = (await response.json()) as { data?: { accounts: { totalCount?: number } }; errors?: unknown };
        if (!body.data) throw new Error(JSON.stringify(body.errors));
        total = body.data.accounts.totalCount;
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      return { ms: times[2]!, total };
    };
    for (const term of [rare, "initech", "@3f2", "S-0042", "ac"]) {
      const page = await median("query($s: String) { accounts(search: $s, first: 10) { edges { node { accountNumber name } } } }", term);
      const counted = await median("query($s: String) { accounts(search: $s, first: 20) { totalCount edges { node { accountNumber name } } } }", term);
      console.log(
        `account search "${term}": ${counted.total} matches; suggestions (10, no count) ${page.ms.toFixed(0)} ms, page of 20 with totalCount ${counted.ms.toFixed(0)} ms (medians of 5)`,
      );
    }
    await app.close();
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
