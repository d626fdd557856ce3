import { describe, expect, it } from "vitest";
import { timeOrderedId, writeTimeOrderedId } from "./ids.ts";

describe("timeOrderedId", () => {
  it("is a UUID version 7 whose first 48 bits are the current time in milliseconds", () => {
    const before = Date.now();
    const id = timeOrderedId();
    const after = Date.now();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it("never repeats, and ids of a later millisecond sort after those of an earlier one", async () => {
    const first = Array.from({ length: 10_000 }, () => timeOrderedId());
    expect(new Set(first).size).toBe(first.length);
    const start = Date.now();
    while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
    const later = timeOrderedId();
    expect(first.every((id) => id < later)).toBe(true);
  });

  it("as bytes: the same layout, written where asked, never repeated", () => {
    const before = Date.now();
    const ids = Buffer.alloc(16 * 1000 + 1);
    for (let i = 0; i < 1000; i++) writeTimeOrderedId(ids, 1 + 16 * i);
    const after = Date.now();
    expect(ids[0]).toBe(0);
    const texts = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const hex = ids.toString("hex", 1 + 16 * i, 17 + 16 * i);
      const text = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
      expect(text).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(hex.slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
      texts.add(text);
    }
    expect(texts.size).toBe(1000);
    expect(() => writeTimeOrderedId(Buffer.alloc(20), 5)).toThrow(RangeError);
  });
});
