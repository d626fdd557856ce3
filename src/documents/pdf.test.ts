import { describe, expect, it } from "vitest";
import { pdfPages } from "../../test/support/pdf.ts";
import type { DocumentData } from "./data.ts";
import { renderDocumentPdf } from "./pdf.ts";

const pages = (pdf: Buffer) => pdfPages(pdf);

const base: DocumentData = {
  type: "INVOICE",
  id: "00000000-0000-4000-8000-000000000001",
  number: "INV-00000042",
  status: "DRAFT",
  currency: "EUR",
  amount: "0",
  balance: "0",
  invoiceDate: "2026-02-01",
  dueDate: "2026-03-03",
  billRunNumber: "BR-00000007",
  account: { accountNumber: "A-00000009", name: "Ελληνική Εταιρεία Α.Ε.", billToEmail: "ap@example.gr" },
  seller: { companyName: "", companyAddress: "", companyTaxId: "", companyLogo: "" },
  items: [],
  payments: [],
};

describe("renderDocumentPdf", () => {
  it("continues a long invoice on further pages, with the column headings and the watermark on each", async () => {
    const items = Array.from({ length: 120 }, (_, i) => ({
      chargeName: i === 7 ? `A charge whose name is long enough to wrap over several lines of its column, number ${i}` : `Usage block ${i}`,
      serviceStart: "2026-01-01",
      serviceEnd: "2026-02-01",
      quantity: "1",
      unitPrice: "1.5",
      amount: "1.5000",
    }));
    const text = await pages(await renderDocumentPdf({ ...base, items, amount: "180.0000", balance: "180.0000" }));
    expect(text.length).toBeGreaterThanOrEqual(3);
    for (const page of text) {
      expect(page).toMatch(/^DRAFT$/m);
      expect(page).toContain("Charge Service period Quantity Unit price Amount");
    }
    const all = text.join("\n");
    for (let i = 0; i < 120; i++) if (i !== 7) expect(all).toContain(`Usage block ${i} 2026-01-01 – 2026-01-31 1 1.50 1.50`);
    expect(all).toContain("number 7");
    expect(text.at(-1)).toContain("Total EUR 180.00");
    expect(all).toContain("Ελληνική Εταιρεία Α.Ε.");
  });

  it("marks a canceled document CANCELED and a posted one not at all", async () => {
    const canceled = (await pages(await renderDocumentPdf({ ...base, status: "CANCELED" }))).join("\n");
    expect(canceled).toMatch(/^CANCELED$/m);
    expect(canceled).not.toContain("DRAFT");
    const posted = (await pages(await renderDocumentPdf({ ...base, status: "POSTED" }))).join("\n");
    expect(posted).not.toMatch(/DRAFT|CANCELED/);
  });

  it("refuses an unknown currency rather than guessing its digits", async () => {
    await expect(
      renderDocumentPdf({
        ...base,
        currency: "XXX",
        items: [{ chargeName: "x", serviceStart: "2026-01-01", serviceEnd: "2026-01-01", quantity: "1", unitPrice: "1", amount: "1" }],
      }),
    ).rejects.toThrow(RangeError);
  });
});
