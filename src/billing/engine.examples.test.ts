// SPEC §1 worked examples (account bill cycle day 1, USD), each with its exact amounts.
import { describe, expect, it } from "vitest";
import { billAccount } from "./engine.ts";
import { expectOk, itemSummary, makeAccount, makeCharge, makeSubscription, makeUsageCharge, runAt, usage } from "./test-support.ts";

describe("SPEC worked examples", () => {
  it("1. RECURRING MONTH IN_ADVANCE 30.00 from 2026-01-10, T = 2026-02-01: 21.29 partial + 30.00", () => {
    const account = makeAccount([makeSubscription([makeCharge()])]);
    const result = expectOk(billAccount(account, runAt("2026-02-01")));

    expect(itemSummary(result)).toEqual([
      ["2026-01-10", "2026-02-01", "21.29"],
      ["2026-02-01", "2026-03-01", "30.00"],
    ]);
    expect(result.documents).toHaveLength(1);
    expect(result.documents[0]).toMatchObject({ type: "INVOICE", total: "51.29", amount: "51.29", currency: "USD" });
    expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: null, to: "2026-03-01" }]);
  });

  it("2. the same charge IN_ARREARS, T = 2026-02-01: only the partial period 21.29", () => {
    const account = makeAccount([makeSubscription([makeCharge({ billingTiming: "IN_ARREARS" })])]);
    const result = expectOk(billAccount(account, runAt("2026-02-01")));

    expect(itemSummary(result)).toEqual([["2026-01-10", "2026-02-01", "21.29"]]);
    expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: null, to: "2026-02-01" }]);
  });

  it("3. RECURRING ANNUAL IN_ADVANCE 1200.00 from 2026-03-01, T = 2026-03-01: one full year 1200.00", () => {
    const charge = makeCharge({ price: "1200.00", startDate: "2026-03-01", billingPeriod: "ANNUAL" });
    const result = expectOk(billAccount(makeAccount([makeSubscription([charge])]), runAt("2026-03-01")));

    expect(itemSummary(result)).toEqual([["2026-03-01", "2027-03-01", "1200.00"]]);
    expect(result.documents[0].total).toBe("1200.00");
  });

  describe("4. USAGE MONTH 0.10 with 1,234 units in January, from 2026-01-01", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("1000", "2026-01-03"), usage("234", "2026-01-31"), usage("50", "2026-02-01")],
    });

    it("T = 2026-02-01: one item 123.40 for the 1,234 January units", () => {
      const result = expectOk(billAccount(account, runAt("2026-02-01")));
      expect(itemSummary(result)).toEqual([["2026-01-01", "2026-02-01", "123.40"]]);
      expect(result.documents[0].items[0]).toMatchObject({ quantity: "1234", unitPrice: "0.10", chargeType: "USAGE" });
      expect(result.chargeUpdates).toEqual([{ chargeId: "usage-1", from: null, to: "2026-02-01" }]);
    });

    it("T = 2026-01-31: nothing (January has not ended)", () => {
      const result = expectOk(billAccount(account, runAt("2026-01-31")));
      expect(result.documents).toEqual([]);
      expect(result.chargeUpdates).toEqual([]);
    });
  });

  it("5. bill cycle day 31, MONTH IN_ADVANCE from 2026-02-28: periods end on the month's last day", () => {
    const charge = makeCharge({ startDate: "2026-02-28" });
    const account = makeAccount([makeSubscription([charge])], { billCycleDay: 31 });
    const result = expectOk(billAccount(account, runAt("2026-04-30")));

    expect(itemSummary(result)).toEqual([
      ["2026-02-28", "2026-03-31", "30.00"],
      ["2026-03-31", "2026-04-30", "30.00"],
      ["2026-04-30", "2026-05-31", "30.00"],
    ]);
  });

  describe("6. example 1's charge billed through 2026-03-01, subscription cancelled on 2026-02-15", () => {
    const account = makeAccount([makeSubscription([makeCharge({ chargedThroughDate: "2026-03-01" })], { cancelledOn: "2026-02-15" })]);

    it("T = 2026-02-15: credit −30 × 14/28 = −15.00 in a credit memo of 15.00; charged through moves back", () => {
      const result = expectOk(billAccount(account, runAt("2026-02-15")));

      expect(itemSummary(result)).toEqual([["2026-02-15", "2026-03-01", "-15.00"]]);
      expect(result.documents[0].items[0].kind).toBe("CREDIT");
      expect(result.documents[0]).toMatchObject({ type: "CREDIT_MEMO", total: "-15.00", amount: "15.00" });
      expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: "2026-03-01", to: "2026-02-15" }]);
    });

    it("T = 2026-02-14 (before the service end): nothing yet", () => {
      const result = expectOk(billAccount(account, runAt("2026-02-14")));
      expect(result.documents).toEqual([]);
      expect(result.chargeUpdates).toEqual([]);
    });
  });
});
