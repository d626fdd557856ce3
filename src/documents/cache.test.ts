import { describe, expect, it } from "vitest";
import { LruBytes } from "./cache.ts";

describe("LruBytes", () => {
  it("keeps at most its byte budget, dropping the least recently used first", () => {
    const lru = new LruBytes(10);
    lru.set("a", Buffer.alloc(4));
    lru.set("b", Buffer.alloc(4));
    expect(lru.get("a")).toHaveLength(4); // a is now the most recent
    lru.set("c", Buffer.alloc(4)); // 12 bytes: b goes
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toHaveLength(4);
    expect(lru.get("c")).toHaveLength(4);
    expect(lru.size).toBe(2);
  });

  it("replaces an entry in place and never keeps one larger than the budget", () => {
    const lru = new LruBytes(10);
    lru.set("a", Buffer.alloc(6));
    lru.set("a", Buffer.alloc(8));
    expect(lru.size).toBe(1);
    expect(lru.get("a")).toHaveLength(8);
    lru.set("huge", Buffer.alloc(11));
    expect(lru.get("huge")).toBeUndefined();
    expect(lru.get("a")).toHaveLength(8);
  });
});
