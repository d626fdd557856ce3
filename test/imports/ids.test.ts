import { describe, expect, it } from "vitest";
import { timeOrderedId } from "../../src/imports/writers.ts";
import { isUuid } from "../../src/util.ts";

describe("ids of imported rows", () => {
  it("are UUID version 7: the time in milliseconds, then random bits", () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => timeOrderedId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      // Version 7, RFC 9562 variant (10xx).
      expect(id[14]).toBe("7");
      expect("89ab").toContain(id[19]);
      const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // An id made in a later millisecond sorts after an earlier one (the index takes it at its right edge).
    const first = timeOrderedId();
    const millisecond = Date.now();
    while (Date.now() === millisecond);
    expect(timeOrderedId() > first).toBe(true);
  });
});
