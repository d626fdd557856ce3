// The seller's logo on PDFs: a PNG or JPEG given as a data URL. Checked whole when it is set,
// because pdfkit decodes a PNG's pixels in a callback where a corrupt image would throw outside
// any request: an image that passes here is one pdfkit can embed.
import { inflateSync } from "node:zlib";
import PDFDocument from "pdfkit";

/** Largest logo accepted, decoded: it rides in every invoice email's PDF. */
export const MAX_LOGO_BYTES = 200 * 1024;

const DATA_URL = /^data:image\/(png|jpeg);base64,([A-Za-z0-9+/]+={0,2})$/;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The image bytes of a logo data URL; null for "" (no logo). Throws Error with a reason a person can act on. */
export function decodeLogo(dataUrl: string): Buffer | null {
  if (dataUrl === "") return null;
  const match = DATA_URL.exec(dataUrl);
  if (!match) throw new Error("must be a data URL of a PNG or JPEG image (data:image/png;base64,...)");
  const bytes = Buffer.from(match[2]!, "base64");
  if (bytes.length > MAX_LOGO_BYTES) throw new Error(`must be at most ${MAX_LOGO_BYTES / 1024} KiB`);
  if (match[1] === "png") checkPng(bytes);
  else if (!(bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff)) throw new Error("is not a JPEG image");
  // What pdfkit checks when it opens an image (header, size, colour type) throws here, synchronously.
  const doc = new PDFDocument({ autoFirstPage: true });
  try {
    doc.image(bytes, 0, 0, { fit: [10, 10] });
  } catch {
    throw new Error("is not an image a PDF can show");
  } finally {
    doc.end();
  }
  return bytes;
}

/** The PNG's chunks are whole and its pixel data inflates (pdfkit's own inflate would throw uncaught). */
function checkPng(bytes: Buffer): void {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error("is not a PNG image");
  const idat: Buffer[] = [];
  let at = 8;
  let ended = false;
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString("latin1", at + 4, at + 8);
    if (at + 12 + length > bytes.length) break;
    if (type === "IDAT") idat.push(bytes.subarray(at + 8, at + 8 + length));
    at += 12 + length;
    if (type === "IEND") {
      ended = true;
      break;
    }
  }
  if (!ended || idat.length === 0) throw new Error("is a damaged PNG image");
  try {
    inflateSync(Buffer.concat(idat));
  } catch {
    throw new Error("is a damaged PNG image");
  }
}
