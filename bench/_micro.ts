import { parse } from "csv-parse";
const N = 80000;
let text = "subscriptionNumber,accountNumber,startDate,chargeName,chargeType,price,billingPeriod,billingTiming,unitOfMeasure\n";
for (let i = 0; i < N; i++) text += `IMP-${i}-S1,IMP-${i},2026-01-01,Platform fee,RECURRING,49.99,MONTH,IN_ADVANCE,\n`;
const buf = Buffer.from(text);
async function run(label: string, options: object) {
  const t0 = performance.now();
  const parser = parse(options);
  const feed = (async () => { for (let i = 0; i < buf.length; i += 1 << 20) { if (!parser.write(buf.subarray(i, i + (1 << 20)))) await new Promise((r) => parser.once("drain", r)); } parser.end(); })();
  let n = 0;
  for await (const _ of parser) n++;
  await feed;
  console.log(label, n, Math.round(performance.now() - t0), "ms");
}
const base = { bom: true, skip_empty_lines: true, relax_column_count: true, max_record_size: 1 << 20 };
await run("warm", base);
await run("plain", base);
await run("info", { ...base, info: true });
await run("info+skip", { ...base, info: true, skip_records_with_error: true, on_skip: () => undefined });
await run("on_record", { ...base, on_record: (r: string[], c: { lines: number }) => [r, c.lines] });
await run("plain-buf", { ...base, encoding: null });
