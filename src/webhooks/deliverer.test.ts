import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { classifyStatus, parseRetryAfter, retryDelayMs, signatureHeaders } from "./deliverer.ts";
import { isForbiddenAddress, urlProblem } from "./address.ts";
import { renderBody } from "./events.ts";
import { generateSecret, encryptSecret, decryptSecret } from "./secrets.ts";
import { randomBytes } from "node:crypto";

describe("delivery rules", () => {
  it("retries 408, 409, 429 and 5xx, succeeds on 2xx, fails other codes at once", () => {
    expect([200, 204, 299].map(classifyStatus)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
    expect([408, 409, 429, 500, 503, 599].map(classifyStatus)).toEqual(Array(6).fill("RETRY"));
    expect([400, 401, 403, 404, 410, 413, 422].map(classifyStatus)).toEqual(Array(7).fill("FAILED"));
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-11-29T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter("Sun, 29 Nov 2026 10:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Sun, 29 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it("backs off exponentially, capped, with jitter within ±25%", () => {
    const options = { retryBaseMs: 5_000, retryMaxMs: 3_600_000 };
    for (const [attempt, exact] of [
      [1, 5_000],
      [2, 10_000],
      [5, 80_000],
      [20, 3_600_000],
    ] as const) {
      for (let i = 0; i < 50; i++) {
        const delay = retryDelayMs(attempt, options);
        expect(delay).toBeGreaterThanOrEqual(exact * 0.75);
        expect(delay).toBeLessThanOrEqual(exact * 1.25);
      }
    }
  });

  it("signs so that the Standard Webhooks verifier accepts each secret, and renders amounts in minor units", () => {
    const [a, b] = [generateSecret(), generateSecret()];
    const body = renderBody({
      type: "invoice.posted",
      createdAt: new Date(),
      data: { invoice: { currency: "JPY", amount: "1200.0000", balance: "1200.0000" } },
    });
    expect(JSON.parse(body).data.invoice).toEqual({ currency: "JPY", amount: "1200", balance: "1200" });
    const headers = signatureHeaders("42", new Date(), body, [a, b]);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(new Webhook(a).verify(body, headers)).toBeTruthy();
    expect(new Webhook(b).verify(body, headers)).toBeTruthy();
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
  });

  it("encrypts secrets so that only the same key reads them", () => {
    const key = randomBytes(32);
    const secret = generateSecret();
    const stored = encryptSecret(key, secret);
    expect(stored).not.toContain(secret.slice(6));
    expect(decryptSecret(key, stored)).toBe(secret);
    expect(() => decryptSecret(randomBytes(32), stored)).toThrow(/BILLRUN_WEBHOOK_SECRET_KEY/);
  });
});

describe("addresses", () => {
  it("refuses loopback, private, link-local, metadata and reserved addresses, v4 and v6", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.0.1",
      "169.254.169.254",
      "100.100.100.200",
      "0.0.0.0",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00:ec2::254",
      "::ffff:10.0.0.1",
      "64:ff9b::a00:1",
    ]) {
      expect(isForbiddenAddress(address), address).toBe(true);
    }
    for (const address of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) expect(isForbiddenAddress(address), address).toBe(false);
  });

  it("takes https only unless http is allowed; no credentials or fragments", () => {
    const strict = { allowHttp: false, allowPrivate: false };
    expect(urlProblem("https://hooks.example.com/billrun?x=1", strict)).toBeNull();
    expect(urlProblem("http://hooks.example.com/", strict)).toMatch(/https/);
    expect(urlProblem("http://hooks.example.com/", { ...strict, allowHttp: true })).toBeNull();
    expect(urlProblem("https://a:b@hooks.example.com/", strict)).toMatch(/user name or password/);
    expect(urlProblem("https://hooks.example.com/#x", strict)).toMatch(/fragment/);
    expect(urlProblem(`https://hooks.example.com/${"a".repeat(2050)}`, strict)).toMatch(/2048/);
  });
});
