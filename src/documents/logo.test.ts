import { crc32, deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeLogo, MAX_LOGO_BYTES } from "./logo.ts";
import { renderDocumentPdf } from "./pdf.ts";

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A width × height RGB PNG, or one whose pixel data is not zlib at all. */
function png(width: number, height: number, damaged = false): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const rows = Buffer.alloc((width * 3 + 1) * height, 0x7f);
  for (let y = 0; y < height; y++) rows[y * (width * 3 + 1)] = 0; // filter: none
  const pixels = damaged ? Buffer.from("definitely not deflate data") : deflateSync(rows);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const dataUrl = (bytes: Buffer, type = "png") => `data:image/${type};base64,${bytes.toString("base64")}`;

describe("decodeLogo", () => {
  it("takes a PNG data URL, and '' for none", () => {
    expect(
      decodeLogo(dataUrl(png(4, 2)))!
        .subarray(1, 4)
        .toString(),
    ).toBe("PNG");
    expect(decodeLogo("")).toBeNull();
  });

  it("refuses what pdfkit could not embed, before it reaches a PDF", () => {
    expect(() => decodeLogo(dataUrl(png(4, 2, true)))).toThrow("damaged PNG");
    expect(() => decodeLogo(dataUrl(png(4, 2).subarray(0, 30)))).toThrow("damaged PNG");
    expect(() => decodeLogo(dataUrl(Buffer.from("GIF89a....")))).toThrow("not a PNG");
    expect(() => decodeLogo(dataUrl(Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0x02]), "jpeg"))).toThrow();
    expect(() => decodeLogo("data:image/svg+xml;base64,PHN2Zz4=")).toThrow("data URL of a PNG or JPEG");
    expect(() => decodeLogo("/etc/passwd")).toThrow("data URL of a PNG or JPEG");
    expect(() => decodeLogo(dataUrl(Buffer.alloc(MAX_LOGO_BYTES + 1)))).toThrow("at most 200 KiB");
  });

  it("puts the logo on the PDF", async () => {
    const data = {
      type: "INVOICE",
      id: "00000000-0000-4000-8000-000000000001",
      number: "INV-1",
      status: "POSTED",
      currency: "USD",
      amount: "1",
      balance: "1",
      invoiceDate: "2026-02-01",
      dueDate: "2026-03-03",
      billRunNumber: null,
      account: { accountNumber: "A-1", name: "N", billToEmail: "" },
      seller: { companyName: "Logo Ltd", companyAddress: "", companyTaxId: "", companyLogo: "" },
      items: [],
      payments: [],
    } as const;
    const without = await renderDocumentPdf({ ...data, seller: { ...data.seller }, items: [], payments: [] });
    const withLogo = await renderDocumentPdf({ ...data, seller: { ...data.seller, companyLogo: dataUrl(png(40, 20)) }, items: [], payments: [] });
    expect(without.toString("latin1")).not.toContain("/Subtype /Image");
    expect(withLogo.toString("latin1")).toContain("/Subtype /Image");
  });
});
