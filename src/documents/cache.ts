// Rendered PDFs, kept in this process by the hash of what they show (see docs/decisions.md):
// a posted document's hash never changes, so it renders once; a draft that changes gets a new
// hash and the old entry simply ages out. No invalidation to get wrong, nothing shared between
// processes (each renders what it serves; rendering is cheap next to a cache service).
import type { App } from "../app.ts";
import { contentHash, loadDocument, type DocumentData, type DocumentKind } from "./data.ts";
import { RENDERER_VERSION, renderDocumentPdf } from "./pdf.ts";

/** Least-recently-used byte cache; Map keeps insertion order, so the first key is the oldest. */
export class LruBytes {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;
  private readonly maxBytes: number;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    if (value) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: Buffer): void {
    if (value.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.length;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += value.length;
    for (const [oldest, buffer] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= buffer.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** 32 MiB: a few thousand typical invoices (5–15 KiB each, the fonts subset). */
const CACHE_BYTES = 32 * 1024 * 1024;
const caches = new WeakMap<object, { lru: LruBytes; rendering: Map<string, Promise<Buffer>> }>();

export interface RenderedDocument {
  data: DocumentData;
  pdf: Buffer;
  /** Content hash: also the response's ETag. */
  hash: string;
}

/**
 * The PDF of a document, from this process's cache when its content has not changed; null when
 * there is no such document. Concurrent requests for the same content render once.
 */
export async function documentPdf(app: Pick<App, "pool">, type: DocumentKind, id: string): Promise<RenderedDocument | null> {
  const data = await loadDocument(app, type, id);
  if (!data) return null;
  let cache = caches.get(app);
  if (!cache) caches.set(app, (cache = { lru: new LruBytes(CACHE_BYTES), rendering: new Map() }));
  const hash = contentHash(data, RENDERER_VERSION);
  const cached = cache.lru.get(hash);
  if (cached) return { data, pdf: cached, hash };
  let rendering = cache.rendering.get(hash);
  if (!rendering) {
    const { lru, rendering: inFlight } = cache;
    rendering = renderDocumentPdf(data)
      .then((pdf) => {
        lru.set(hash, pdf);
        return pdf;
      })
      .finally(() => inFlight.delete(hash));
    inFlight.set(hash, rendering);
  }
  return { data, pdf: await rendering, hash };
}
