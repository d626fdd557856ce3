// Invoice and credit-memo PDFs (pdfkit). Text is set in DejaVu Sans, embedded (subset) from the
// dejavu-fonts-ttf package: it covers Latin, Greek, Cyrillic and the currency signs, so a
// customer's name prints as typed whatever the PDF viewer has installed.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import PDFDocument from "pdfkit";
import { addDays } from "../billing/dates.ts";
import { formatAmount, formatMoney, formatQuantity, formatUnitPrice, minorUnits } from "../billing/money.ts";
import type { DocumentData } from "./data.ts";
import { decodeLogo } from "./logo.ts";

/** Part of every cache key: a change to the layout must not serve PDFs of the old one. */
export const RENDERER_VERSION = "2";

const require = createRequire(import.meta.url);
let fonts: { regular: Buffer; bold: Buffer } | null = null;
function loadFonts(): { regular: Buffer; bold: Buffer } {
  fonts ??= {
    regular: readFileSync(require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf")),
    bold: readFileSync(require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf")),
  };
  return fonts;
}

const TITLES = { INVOICE: "Invoice", CREDIT_MEMO: "Credit memo" } as const;
const STATUS_TEXT = { DRAFT: "Draft, not posted", POSTED: "Posted", CANCELED: "Canceled" } as const;

/** Service periods are stored with an exclusive end; the customer reads the last day of service. */
function period(start: string, end: string): string {
  return end > start ? `${start} – ${addDays(end, -1)}` : start;
}

const MARGIN = 50;
const A4 = { width: 595.28, height: 841.89 };
const CONTENT_WIDTH = A4.width - 2 * MARGIN;
// Line table columns: charge, service period, quantity, unit price, amount (x offsets and widths).
const COLUMNS = [
  { title: "Charge", width: 165, align: "left" },
  { title: "Service period", width: 120, align: "left" },
  { title: "Quantity", width: 55, align: "right" },
  { title: "Unit price", width: 75, align: "right" },
  { title: "Amount", width: 80, align: "right" },
] as const;
const GAP = (CONTENT_WIDTH - COLUMNS.reduce((sum, c) => sum + c.width, 0)) / (COLUMNS.length - 1);

/**
 * Renders a document as a PDF (A4, one or more pages). Amounts show exactly the currency's minor
 * units (`formatAmount`); a document that is not posted carries a large DRAFT (or CANCELED)
 * watermark on every page. Throws RangeError for an unknown currency.
 */
export async function renderDocumentPdf(data: DocumentData): Promise<Buffer> {
  minorUnits(data.currency); // throws for an unknown currency before anything is drawn
  const { regular, bold } = loadFonts();
  const title = TITLES[data.type];
  const doc = new PDFDocument({
    size: "A4",
    margin: MARGIN,
    bufferPages: false,
    info: { Title: `${title} ${data.number}`, Author: data.seller.companyName || "Billrun", Subject: `${title} ${data.number}` },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("data", (chunk: Buffer) => chunks.push(chunk));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  doc.registerFont("regular", regular);
  doc.registerFont("bold", bold);

  const watermark = data.status === "POSTED" ? null : data.status === "DRAFT" ? "DRAFT" : "CANCELED";
  const drawWatermark = () => {
    if (!watermark) return;
    doc.save();
    // As large as fits across the page's diagonal ("CANCELED" gets a smaller size than "DRAFT").
    doc.font("bold").fontSize(100);
    const size = Math.min(110, (100 * 0.75 * Math.hypot(A4.width, A4.height)) / doc.widthOfString(watermark));
    doc.fontSize(size).fillColor("#d33").fillOpacity(0.15);
    doc.rotate(-Math.atan2(A4.height, A4.width) * (180 / Math.PI), { origin: [A4.width / 2, A4.height / 2] });
    const width = Math.hypot(A4.width, A4.height);
    doc.text(watermark, (A4.width - width) / 2, A4.height / 2 - size * 0.6, { width, align: "center", lineBreak: false });
    doc.restore();
    doc.fillColor("black").fillOpacity(1);
  };
  drawWatermark();
  doc.on("pageAdded", drawWatermark);

  const money = (amount: string) => formatAmount(amount, data.currency);

  // Seller (left) and the document's identity (right).
  const top = MARGIN;
  let sellerTop = top;
  const logo = data.seller.companyLogo ? decodeLogo(data.seller.companyLogo) : null;
  if (logo) {
    doc.image(logo, MARGIN, top, { fit: [160, 50] });
    sellerTop = top + 58;
  }
  doc.font("bold").fontSize(13).fillColor("black");
  doc.text(data.seller.companyName || " ", MARGIN, sellerTop, { width: 260 });
  doc.font("regular").fontSize(9);
  if (data.seller.companyAddress) doc.text(data.seller.companyAddress, { width: 260 });
  if (data.seller.companyTaxId) doc.text(`Tax ID: ${data.seller.companyTaxId}`, { width: 260 });
  const sellerBottom = doc.y;

  const rightX = MARGIN + 280;
  const rightWidth = CONTENT_WIDTH - 280;
  doc.font("bold").fontSize(18).text(title, rightX, top, { width: rightWidth, align: "right" });
  doc.font("regular").fontSize(9);
  const facts: [string, string][] = [
    [data.type === "INVOICE" ? "Invoice number" : "Credit memo number", data.number],
    ["Status", STATUS_TEXT[data.status]],
    [data.type === "INVOICE" ? "Invoice date" : "Date", data.invoiceDate],
    ...(data.type === "INVOICE" ? ([["Due date", data.dueDate]] as [string, string][]) : []),
    ...(data.billRunNumber ? ([["Bill run", data.billRunNumber]] as [string, string][]) : []),
  ];
  for (const [label, value] of facts) {
    const y = doc.y;
    doc.text(`${label}:`, rightX, y, { width: rightWidth / 2 });
    doc.text(value, rightX + rightWidth / 2, y, { width: rightWidth / 2, align: "right" });
  }

  // Bill to.
  let y = Math.max(sellerBottom, doc.y) + 20;
  doc.font("bold").fontSize(10).text("Bill to", MARGIN, y);
  doc.font("regular").fontSize(10).text(data.account.name, { width: 300 });
  doc.fontSize(9).text(`Account ${data.account.accountNumber}`);
  if (data.account.billToEmail) doc.text(data.account.billToEmail);
  y = doc.y + 20;

  // Lines.
  const row = (cells: string[], font: "regular" | "bold"): void => {
    doc.font(font).fontSize(9);
    const height = Math.max(...cells.map((cell, i) => doc.heightOfString(cell, { width: COLUMNS[i]!.width })));
    if (y + height > A4.height - MARGIN - 20) {
      doc.addPage();
      y = MARGIN;
      if (font === "regular")
        row(
          COLUMNS.map((c) => c.title),
          "bold",
        );
      doc.font(font).fontSize(9);
    }
    let x = MARGIN;
    cells.forEach((cell, i) => {
      const column = COLUMNS[i]!;
      doc.text(cell, x, y, { width: column.width, align: column.align });
      x += column.width + GAP;
    });
    y += height + 4;
  };
  const rule = () => {
    doc
      .moveTo(MARGIN, y - 2)
      .lineTo(A4.width - MARGIN, y - 2)
      .lineWidth(0.5)
      .strokeColor("#888")
      .stroke();
    y += 2;
  };

  row(
    COLUMNS.map((c) => c.title),
    "bold",
  );
  rule();
  for (const item of data.items) {
    row(
      [
        item.chargeName,
        period(item.serviceStart, item.serviceEnd),
        formatQuantity(item.quantity),
        formatUnitPrice(item.unitPrice, data.currency),
        money(item.amount),
      ],
      "regular",
    );
  }
  rule();

  // Totals, payments, balance: label in the first four columns' span, value under Amount.
  const labelWidth = CONTENT_WIDTH - COLUMNS[4].width - GAP;
  const total = (label: string, value: string, font: "regular" | "bold" = "regular") => {
    doc.font(font).fontSize(9);
    if (y + 14 > A4.height - MARGIN) {
      doc.addPage();
      y = MARGIN;
    }
    doc.text(label, MARGIN, y, { width: labelWidth, align: "right" });
    doc.text(value, MARGIN + labelWidth + GAP, y, { width: COLUMNS[4].width, align: "right" });
    y += 14;
  };
  total("Total", formatMoney(data.amount, data.currency), "bold");
  for (const payment of data.payments) total(`Payment ${payment.date}`, `-${money(payment.amount)}`);
  if (data.type === "INVOICE") total("Balance due", formatMoney(data.balance, data.currency), "bold");
  else total("Unapplied balance", formatMoney(data.balance, data.currency), "bold");

  doc.end();
  return done;
}
