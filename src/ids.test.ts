import { describe, expect, it } from "vitest";
import { timeOrderedId } from "./ids.ts";

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
});
