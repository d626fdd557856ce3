// What the emails say: pure functions from data to subject, plain text and HTML.
import { formatAmount, formatMoney, formatQuantity, formatUnitPrice } from "../billing/money.ts";
import { addDays } from "../billing/dates.ts";
import type { RunStatusPayload } from "./outbox.ts";

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface InvoiceEmailData {
  invoiceNumber: string;
  billRunNumber: string | null;
  accountNumber: string;
  accountName: string;
  currency: string;
  amount: string;
  invoiceDate: string;
  dueDate: string;
  lines: { chargeName: string; serviceStart: string; serviceEnd: string; quantity: string; unitPrice: string; amount: string }[];
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Where an operator opens the run: `${PUBLIC_URL}/bill-runs/<id>`. */
export function runLink(publicUrl: string | undefined, billRunId: string): string | null {
  return publicUrl ? `${publicUrl.replace(/\/+$/, "")}/bill-runs/${encodeURIComponent(billRunId)}` : null;
}

export function composeRunStatusEmail(p: RunStatusPayload, options: { publicUrl?: string }): ComposedEmail {
  const link = runLink(options.publicUrl, p.billRunId);
  const more = p.failedAccountCount - p.failures.length;
  const subject =
    `Bill run ${p.billRunNumber} ${p.status}: ${plural(p.invoiceCount, "invoice")}, ` +
    `${plural(p.creditMemoCount, "credit memo")}, ${plural(p.failedAccountCount, "failed account")}`;
  const counts: [string, string][] = [
    ["Status", p.status],
    ["Target date", p.targetDate],
    ["Invoice date", p.invoiceDate],
    ["Accounts targeted", String(p.accountsTotal)],
    ["Accounts processed", String(p.accountsProcessed)],
    ["Invoices", String(p.invoiceCount)],
    ["Zero-amount invoices", String(p.zeroAmountInvoiceCount)],
    ["Credit memos", String(p.creditMemoCount)],
    ["Failed accounts", String(p.failedAccountCount)],
  ];
  if (typeof p.processingSeconds === "number") counts.push(["Duration", formatDuration(p.processingSeconds)]);
  const totals = p.totals.map((t) => formatMoney(t.amount, t.currency));
  const headline =
    p.status === "ERROR"
      ? `Bill run ${p.billRunNumber} could not be executed and is in ERROR.`
      : `Bill run ${p.billRunNumber} is ${p.status}${p.failedAccountCount > 0 ? `, with ${plural(p.failedAccountCount, "failed account")}` : ""}.`;

  const text: string[] = [headline, ""];
  if (p.errorMessage) text.push(`Reason: ${p.errorMessage}`, "");
  for (const [label, value] of counts) text.push(`${`${label}:`.padEnd(22)}${value}`);
  text.push("", "Invoice totals:", ...(totals.length > 0 ? totals.map((t) => `  ${t}`) : ["  none"]));
  if (p.failures.length > 0) {
    text.push("", `Failed accounts (${p.failedAccountCount}):`);
    for (const f of p.failures) {
      text.push(`  ${f.accountNumber} ${f.name}: ${f.code} - ${f.message}`);
      for (const s of f.subscriptions) text.push(`    subscription ${s.subscriptionNumber}: ${s.code} - ${s.message}`);
    }
    if (more > 0) text.push(`  and ${more} more`);
  }
  if (link) text.push("", `Open the bill run: ${link}`);
  text.push("");

  const h = escapeHtml;
  const html: string[] = ["<!doctype html>", `<html><body style="font-family: sans-serif">`, `<p>${h(headline)}</p>`];
  if (p.errorMessage) html.push(`<p><strong>Reason:</strong> ${h(p.errorMessage)}</p>`);
  html.push("<table>", ...counts.map(([l, v]) => `<tr><th align="left">${h(l)}</th><td>${h(v)}</td></tr>`), "</table>");
  html.push("<h3>Invoice totals</h3>", totals.length > 0 ? `<ul>${totals.map((t) => `<li>${h(t)}</li>`).join("")}</ul>` : "<p>none</p>");
  if (p.failures.length > 0) {
    html.push(`<h3>Failed accounts (${p.failedAccountCount})</h3>`, "<table>");
    html.push('<tr><th align="left">Account</th><th align="left">Name</th><th align="left">Code</th><th align="left">Message</th></tr>');
    for (const f of p.failures) {
      html.push(`<tr><td>${h(f.accountNumber)}</td><td>${h(f.name)}</td><td>${h(f.code)}</td><td>${h(f.message)}</td></tr>`);
      for (const s of f.subscriptions) {
        html.push(`<tr><td></td><td>subscription ${h(s.subscriptionNumber)}</td><td>${h(s.code)}</td><td>${h(s.message)}</td></tr>`);
      }
    }
    html.push("</table>");
    if (more > 0) html.push(`<p>and ${more} more</p>`);
  }
  if (link) html.push(`<p><a href="${h(link)}">Open the bill run</a></p>`);
  html.push("</body></html>", "");
  return { subject, text: text.join("\n"), html: html.join("\n") };
}

/** "42 s", "3 min 05 s", "2 h 07 min": how long a run took, to the second (to the minute past an hour). */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** Service periods are stored with an exclusive end; customers read the last day of service. */
function period(start: string, end: string): string {
  return end > start ? `${start} to ${addDays(end, -1)}` : start;
}

export function composeInvoiceEmail(d: InvoiceEmailData): ComposedEmail {
  const total = formatMoney(d.amount, d.currency);
  const subject = `Invoice ${d.invoiceNumber}: ${total}, due ${d.dueDate}`;
  const lines = d.lines.map((l) => ({
    name: l.chargeName,
    period: period(l.serviceStart, l.serviceEnd),
    quantity: formatQuantity(l.quantity),
    unitPrice: formatUnitPrice(l.unitPrice, d.currency),
    amount: formatAmount(l.amount, d.currency),
  }));

  const text: string[] = [
    `Dear ${d.accountName},`,
    "",
    `Please find your invoice ${d.invoiceNumber} for account ${d.accountNumber}.`,
    "",
    `Invoice date: ${d.invoiceDate}`,
    `Due date:     ${d.dueDate}`,
    "",
  ];
  for (const l of lines) text.push(`  ${l.name} (${l.period}): ${l.quantity} x ${l.unitPrice} = ${l.amount}`);
  text.push("", `Total: ${total}`, "");

  const h = escapeHtml;
  const html = [
    "<!doctype html>",
    `<html><body style="font-family: sans-serif">`,
    `<p>Dear ${h(d.accountName)},</p>`,
    `<p>Please find your invoice <strong>${h(d.invoiceNumber)}</strong> for account ${h(d.accountNumber)}.</p>`,
    `<p>Invoice date: ${h(d.invoiceDate)}<br>Due date: ${h(d.dueDate)}</p>`,
    "<table>",
    '<tr><th align="left">Charge</th><th align="left">Service period</th><th align="right">Quantity</th><th align="right">Unit price</th><th align="right">Amount</th></tr>',
    ...lines.map(
      (l) =>
        `<tr><td>${h(l.name)}</td><td>${h(l.period)}</td><td align="right">${h(l.quantity)}</td><td align="right">${h(l.unitPrice)}</td><td align="right">${h(l.amount)}</td></tr>`,
    ),
    `<tr><th align="left" colspan="4">Total</th><th align="right">${h(total)}</th></tr>`,
    "</table>",
    "</body></html>",
    "",
  ];
  return { subject, text: text.join("\n"), html: html.join("\n") };
}

/** What the email about a disabled webhook endpoint says (src/webhooks/deliverer.ts queues it). */
export interface WebhookDisabledPayload {
  endpointId: string;
  url: string;
  description: string;
  failingSince: string;
  disabledAt: string;
  reason: string;
}

export function composeWebhookDisabledEmail(p: WebhookDisabledPayload): ComposedEmail {
  const subject = `Webhook endpoint disabled: ${p.url}`;
  const lines = [
    `The webhook endpoint ${p.url}${p.description ? ` (${p.description})` : ""} was disabled at ${p.disabledAt}:`,
    `${p.reason}.`,
    `Every delivery to it has failed since ${p.failingSince}.`,
    "",
    "Its queued deliveries wait. Fix the receiver, then enable the endpoint again (enableWebhookEndpoint); deliveries older than the retry window are not sent.",
  ];
  return {
    subject,
    text: `${lines.join("\n")}\n`,
    html: `<!doctype html><html><body>${lines.map((l) => (l ? `<p>${escapeHtml(l)}</p>` : "")).join("")}</body></html>`,
  };
}
