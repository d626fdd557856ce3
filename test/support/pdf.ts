import { getDocumentProxy } from "unpdf";

/**
 * The text of each page of a PDF, parsed back with pdf.js (through unpdf): the runs of text on one
 * baseline joined by a space, left to right, one line per baseline from the top. Rotated text
 * (a watermark) comes out as lines of its own.
 */
export async function pdfPages(pdf: Uint8Array): Promise<string[]> {
  // pdf.js may take ownership of the buffer it is given: hand it a copy.
  const document = await getDocumentProxy(new Uint8Array(pdf));
  try {
    const pages: string[] = [];
    for (let n = 1; n <= document.numPages; n++) {
      const page = await document.getPage(n);
      const content = await page.getTextContent();
      const lines = new Map<number, { x: number; text: string }[]>();
      for (const item of content.items) {
        if (!("str" in item) || item.str.trim() === "") continue;
        const y = Math.round(item.transform[5] as number);
        const line = lines.get(y) ?? [];
        line.push({ x: item.transform[4] as number, text: item.str.trim() });
        lines.set(y, line);
      }
      pages.push(
        [...lines.entries()]
          .sort(([a], [b]) => b - a)
          .map(([, runs]) =>
            runs
              .sort((a, b) => a.x - b.x)
              .map((r) => r.text)
              .join(" "),
          )
          .join("\n"),
      );
    }
    return pages;
  } finally {
    await document.cleanup();
  }
}

/** All pages' text (see pdfPages), page after page. */
export async function pdfText(pdf: Uint8Array): Promise<string> {
  return (await pdfPages(pdf)).join("\n");
}
