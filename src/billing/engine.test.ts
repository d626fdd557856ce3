import { describe, expect, it } from "vitest";
import { billAccount, billAccounts, BillingInputError, prepareRun } from "./engine.ts";
import {
  allItems,
  applyChargeUpdates,
  expectFailure,
  expectOk,
  itemSummary,
  makeAccount,
  makeCharge,
  makeSubscription,
  makeUsageCharge,
  runAt,
  usage,
} from "./test-support.ts";
import type { AccountInput, ChargeInput } from "./types.ts";

/** One subscription with one charge on an account with the given bill cycle day / currency. */
function single(charge: Partial<ChargeInput>, account: Partial<AccountInput> = {}, cancelledOn: string | null = null) {
  return makeAccount([makeSubscription([makeCharge(charge)], { cancelledOn })], account);
}

describe("recurring periods and proration", () => {
  it.each([
    {
      name: "leap year: partial February 2028 is 15 of 29 days",
      account: single({ startDate: "2028-02-15", billingTiming: "IN_ARREARS" }),
      target: "2028-03-01",
      items: [["2028-02-15", "2028-03-01", "15.52"]],
    },
    {
      name: "non-leap year: partial February 2027 is 14 of 28 days",
      account: single({ startDate: "2027-02-15", billingTiming: "IN_ARREARS" }),
      target: "2027-03-01",
      items: [["2027-02-15", "2027-03-01", "15.00"]],
    },
    {
      name: "start on 2028-02-29 with bill cycle day 1: one day of 29",
      account: single({ startDate: "2028-02-29" }),
      target: "2028-02-29",
      items: [["2028-02-29", "2028-03-01", "1.03"]],
    },
    {
      name: "bill cycle day 29 in February 2028 is the 29th",
      account: single({ startDate: "2028-01-29" }, { billCycleDay: 29 }),
      target: "2028-02-29",
      items: [
        ["2028-01-29", "2028-02-29", "30.00"],
        ["2028-02-29", "2028-03-29", "30.00"],
      ],
    },
    {
      name: "bill cycle day 29 in February 2027 is the 28th",
      account: single({ startDate: "2027-01-29" }, { billCycleDay: 29 }),
      target: "2027-02-28",
      items: [
        ["2027-01-29", "2027-02-28", "30.00"],
        ["2027-02-28", "2027-03-29", "30.00"],
      ],
    },
    {
      name: "bill cycle day 29 starting on 2027-02-28 has no partial period",
      account: single({ startDate: "2027-02-28" }, { billCycleDay: 29 }),
      target: "2027-02-28",
      items: [["2027-02-28", "2027-03-29", "30.00"]],
    },
    {
      name: "bill cycle day 30 across February, in arrears, with a partial first period of 15/31",
      account: single({ startDate: "2026-01-15", billingTiming: "IN_ARREARS" }, { billCycleDay: 30 }),
      target: "2026-03-30",
      items: [
        ["2026-01-15", "2026-01-30", "14.52"],
        ["2026-01-30", "2026-02-28", "30.00"],
        ["2026-02-28", "2026-03-30", "30.00"],
      ],
    },
    {
      name: "bill cycle day 31 across February and April",
      account: single({ startDate: "2026-01-31" }, { billCycleDay: 31 }),
      target: "2026-03-31",
      items: [
        ["2026-01-31", "2026-02-28", "30.00"],
        ["2026-02-28", "2026-03-31", "30.00"],
        ["2026-03-31", "2026-04-30", "30.00"],
      ],
    },
    {
      name: "bill cycle day 31: partial February is 18 of 28 days",
      account: single({ startDate: "2026-02-10" }, { billCycleDay: 31 }),
      target: "2026-02-10",
      items: [["2026-02-10", "2026-02-28", "19.29"]],
    },
    {
      name: "QUARTER: partial first period 14 of 90 days, then a full quarter",
      account: single({ startDate: "2026-02-15", billingPeriod: "QUARTER", price: "90.00" }),
      target: "2026-03-01",
      items: [
        ["2026-02-15", "2026-03-01", "14.00"],
        ["2026-03-01", "2026-06-01", "90.00"],
      ],
    },
    {
      name: "SEMI_ANNUAL: partial first period 14 of 184 days",
      account: single({ startDate: "2026-01-01", billingPeriod: "SEMI_ANNUAL", price: "600.00" }, { billCycleDay: 15 }),
      target: "2026-01-01",
      items: [["2026-01-01", "2026-01-15", "45.65"]],
    },
    {
      name: "ANNUAL: partial first period 17 of 365 days",
      account: single({ startDate: "2026-03-15", billingPeriod: "ANNUAL", price: "1200.00" }),
      target: "2026-03-15",
      items: [["2026-03-15", "2026-04-01", "55.89"]],
    },
    {
      name: "ANNUAL from 2028-02-29 with bill cycle day 29: next boundary 2029-02-28",
      account: single({ startDate: "2028-02-29", billingPeriod: "ANNUAL", price: "1200.00" }, { billCycleDay: 29 }),
      target: "2029-02-28",
      items: [
        ["2028-02-29", "2029-02-28", "1200.00"],
        ["2029-02-28", "2030-02-28", "1200.00"],
      ],
    },
    {
      name: "QUARTER in arrears with a final period cut by endDate: 45 of 91 days",
      account: single({ startDate: "2026-01-01", endDate: "2026-05-16", billingPeriod: "QUARTER", billingTiming: "IN_ARREARS", price: "90.00" }),
      target: "2026-07-01",
      items: [
        ["2026-01-01", "2026-04-01", "90.00"],
        ["2026-04-01", "2026-05-16", "44.51"],
      ],
    },
    {
      name: "MONTH in advance with a final period cut by cancelledOn: 19 of 31 days",
      account: single({ startDate: "2026-01-01" }, {}, "2026-03-20"),
      target: "2026-03-01",
      items: [
        ["2026-01-01", "2026-02-01", "30.00"],
        ["2026-02-01", "2026-03-01", "30.00"],
        ["2026-03-01", "2026-03-20", "18.39"],
      ],
    },
    {
      name: "service ends at the earlier of endDate and cancelledOn",
      account: single({ startDate: "2026-03-01", endDate: "2026-03-10" }, {}, "2026-03-20"),
      target: "2026-03-01",
      items: [["2026-03-01", "2026-03-10", "8.71"]],
    },
    {
      name: "price × quantity × days ÷ full days is rounded once (3 × 10.00 × 1/31 = 0.97, not 3 × 0.32)",
      account: single({ startDate: "2026-01-31", price: "10.00", quantity: "3" }),
      target: "2026-01-31",
      items: [["2026-01-31", "2026-02-01", "0.97"]],
    },
    {
      name: "fractional quantity: 2.5 × 30.00 for a full month",
      account: single({ startDate: "2026-02-01", quantity: "2.5" }),
      target: "2026-02-01",
      items: [["2026-02-01", "2026-03-01", "75.00"]],
    },
    {
      name: "billing resumes at chargedThroughDate",
      account: single({ chargedThroughDate: "2026-02-01" }),
      target: "2026-03-01",
      items: [
        ["2026-02-01", "2026-03-01", "30.00"],
        ["2026-03-01", "2026-04-01", "30.00"],
      ],
    },
    {
      name: "resuming mid-period (a cancellation undone) prorates the rest of that period",
      account: single({ chargedThroughDate: "2026-02-15" }),
      target: "2026-03-01",
      items: [
        ["2026-02-15", "2026-03-01", "15.00"],
        ["2026-03-01", "2026-04-01", "30.00"],
      ],
    },
    {
      name: "nothing before the charge starts (in advance)",
      account: single({ startDate: "2026-03-01" }),
      target: "2026-02-28",
      items: [],
    },
  ])("$name", ({ account, target, items }) => {
    expect(itemSummary(billAccount(account, runAt(target)))).toEqual(items);
  });

  it("IN_ARREARS bills a period cut by cancellation only once it has ended", () => {
    const account = single({ startDate: "2026-01-01", billingTiming: "IN_ARREARS", chargedThroughDate: "2026-03-01" }, {}, "2026-03-20");
    expect(expectOk(billAccount(account, runAt("2026-03-19"))).documents).toEqual([]);
    const result = expectOk(billAccount(account, runAt("2026-03-20")));
    expect(itemSummary(result)).toEqual([["2026-03-01", "2026-03-20", "18.39"]]);
    expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: "2026-03-01", to: "2026-03-20" }]);
  });

  it("IN_ADVANCE bills a period on its first day, IN_ARREARS on the day after it ends", () => {
    const advance = single({ startDate: "2026-02-01" });
    const arrears = single({ startDate: "2026-02-01", billingTiming: "IN_ARREARS" });
    expect(itemSummary(billAccount(advance, runAt("2026-02-01")))).toEqual([["2026-02-01", "2026-03-01", "30.00"]]);
    expect(itemSummary(billAccount(arrears, runAt("2026-02-28")))).toEqual([]);
    expect(itemSummary(billAccount(arrears, runAt("2026-03-01")))).toEqual([["2026-02-01", "2026-03-01", "30.00"]]);
  });

  it("a null billingTiming means IN_ADVANCE", () => {
    expect(itemSummary(billAccount(single({ startDate: "2026-02-01", billingTiming: null }), runAt("2026-02-01")))).toEqual([
      ["2026-02-01", "2026-03-01", "30.00"],
    ]);
  });

  it("items carry the charge's identity, quantity and unit price", () => {
    const [item] = allItems(billAccount(single({ startDate: "2026-02-01", quantity: "4", price: "12.50" }), runAt("2026-02-01")));
    expect(item).toEqual({
      chargeId: "charge-1",
      subscriptionId: "sub-1",
      chargeName: "Seat",
      chargeType: "RECURRING",
      kind: "CHARGE",
      serviceStart: "2026-02-01",
      serviceEnd: "2026-03-01",
      quantity: "4",
      unitPrice: "12.50",
      amount: "50.00",
    });
  });
});

describe("cancellation credits", () => {
  it("splits the credit at period boundaries, each piece prorated in its own period", () => {
    const account = single({ chargedThroughDate: "2026-05-01" }, {}, "2026-03-15");
    const result = expectOk(billAccount(account, runAt("2026-03-15")));
    expect(itemSummary(result)).toEqual([
      ["2026-03-15", "2026-04-01", "-16.45"],
      ["2026-04-01", "2026-05-01", "-30.00"],
    ]);
    expect(allItems(result).map((item) => item.kind)).toEqual(["CREDIT", "CREDIT"]);
    expect(result.documents[0]).toMatchObject({ type: "CREDIT_MEMO", total: "-46.45", amount: "46.45" });
    expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: "2026-05-01", to: "2026-03-15" }]);
  });

  it("credits the unused part of a year billed in advance: 181 of 365 days", () => {
    const account = single({ startDate: "2026-03-01", billingPeriod: "ANNUAL", price: "1200.00", chargedThroughDate: "2027-03-01" }, {}, "2026-09-01");
    expect(itemSummary(billAccount(account, runAt("2026-10-01")))).toEqual([["2026-09-01", "2027-03-01", "-595.07"]]);
  });

  it("credits a shortened endDate like a cancellation", () => {
    const account = single({ endDate: "2026-02-15", chargedThroughDate: "2026-03-01" });
    expect(itemSummary(billAccount(account, runAt("2026-03-01")))).toEqual([["2026-02-15", "2026-03-01", "-15.00"]]);
  });

  it("a credit of a negative-price charge is positive", () => {
    const account = single({ price: "-30.00", chargedThroughDate: "2026-03-01" }, {}, "2026-02-15");
    const result = expectOk(billAccount(account, runAt("2026-02-15")));
    expect(itemSummary(result)).toEqual([["2026-02-15", "2026-03-01", "15.00"]]);
    expect(result.documents[0]).toMatchObject({ type: "INVOICE", total: "15.00" });
  });

  it("is produced once: after the move back, the next run has nothing", () => {
    const account = single({ chargedThroughDate: "2026-03-01" }, {}, "2026-02-15");
    const first = expectOk(billAccount(account, runAt("2026-02-20")));
    const again = expectOk(billAccount(applyChargeUpdates(account, first.chargeUpdates), runAt("2026-04-01")));
    expect(again.documents).toEqual([]);
    expect(again.chargeUpdates).toEqual([]);
  });

  it("does not credit a ONE_TIME charge", () => {
    const account = single({ type: "ONE_TIME", startDate: "2026-02-01", chargedThroughDate: "2026-02-02", billingPeriod: null }, {}, "2026-01-20");
    const result = expectOk(billAccount(account, runAt("2026-03-01")));
    expect(result.documents).toEqual([]);
    expect(result.chargeUpdates).toEqual([]);
  });

  it("leaves an excluded charge type untouched", () => {
    const account = single({ chargedThroughDate: "2026-03-01" }, {}, "2026-02-15");
    const result = expectOk(billAccount(account, runAt("2026-02-15", { chargeTypesToExclude: ["RECURRING"] })));
    expect(result.documents).toEqual([]);
    expect(result.chargeUpdates).toEqual([]);
  });
});

describe("one-time charges", () => {
  const oneTime = {
    type: "ONE_TIME",
    name: "Setup",
    startDate: "2026-02-10",
    price: "99.00",
    quantity: "2",
    billingPeriod: null,
    billingTiming: null,
  } as const;

  it("is not billed before its start date", () => {
    const result = expectOk(billAccount(single(oneTime), runAt("2026-02-09")));
    expect(result.documents).toEqual([]);
    expect(result.chargeUpdates).toEqual([]);
  });

  it("is billed by the first run on or after its start date, service period [start, start]", () => {
    const result = expectOk(billAccount(single(oneTime), runAt("2026-02-10")));
    expect(allItems(result)).toEqual([
      expect.objectContaining({
        chargeType: "ONE_TIME",
        kind: "CHARGE",
        serviceStart: "2026-02-10",
        serviceEnd: "2026-02-10",
        quantity: "2",
        unitPrice: "99.00",
        amount: "198.00",
      }),
    ]);
    expect(result.chargeUpdates).toEqual([{ chargeId: "charge-1", from: null, to: "2026-02-11" }]);
  });

  it("is billed late by a run long after its start date", () => {
    expect(itemSummary(billAccount(single(oneTime), runAt("2027-01-01")))).toEqual([["2026-02-10", "2026-02-10", "198.00"]]);
  });

  it("is billed only once", () => {
    const result = expectOk(billAccount(single({ ...oneTime, chargedThroughDate: "2026-02-11" }), runAt("2026-03-01")));
    expect(result.documents).toEqual([]);
  });

  it("is not billed when the subscription was cancelled on or before its start date", () => {
    expect(itemSummary(billAccount(single(oneTime, {}, "2026-02-10"), runAt("2026-03-01")))).toEqual([]);
    expect(itemSummary(billAccount(single(oneTime, {}, "2026-02-11"), runAt("2026-03-01")))).toEqual([["2026-02-10", "2026-02-10", "198.00"]]);
  });
});

describe("currencies and rounding", () => {
  it("JPY has no decimals: 1000 × 22/31 = 710", () => {
    const account = single({ currency: "JPY", price: "1000", billingTiming: "IN_ARREARS" }, { currency: "JPY" });
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(itemSummary(result)).toEqual([["2026-01-10", "2026-02-01", "710"]]);
    expect(result.documents[0]).toMatchObject({ currency: "JPY", total: "710", amount: "710" });
  });

  it("KWD has three decimals: 10.000 × 22/31 = 7.097", () => {
    const account = single({ currency: "KWD", price: "10.000", billingTiming: "IN_ARREARS" }, { currency: "KWD" });
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(itemSummary(result)).toEqual([["2026-01-10", "2026-02-01", "7.097"]]);
    expect(result.documents[0].total).toBe("7.097");
  });

  it.each([
    ["USD", "0.01", "0.01"],
    ["USD", "-0.01", "-0.01"],
    ["JPY", "1", "1"],
    ["BHD", "0.001", "0.001"],
  ])("HALF_UP at the tie: %s %s × 14/28 → %s", (currency, price, amount) => {
    const account = single({ currency, price, startDate: "2026-02-15" }, { currency });
    expect(itemSummary(billAccount(account, runAt("2026-02-15")))).toEqual([["2026-02-15", "2026-03-01", amount]]);
  });

  it("HALF_UP on a full period price with more digits than the currency: 0.125 → 0.13", () => {
    expect(itemSummary(billAccount(single({ startDate: "2026-02-01", price: "0.125" }), runAt("2026-02-01")))).toEqual([["2026-02-01", "2026-03-01", "0.13"]]);
  });

  it("KWD usage: 3 × 0.4445 = 1.3335 → 1.334", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge({ currency: "KWD", price: "0.4445" })])], {
      currency: "KWD",
      usage: [usage("3", "2026-01-20")],
    });
    expect(itemSummary(billAccount(account, runAt("2026-02-01")))).toEqual([["2026-01-01", "2026-02-01", "1.334"]]);
  });
});

describe("usage", () => {
  it("a period with no usage has no item but is charged through", () => {
    const result = expectOk(billAccount(makeAccount([makeSubscription([makeUsageCharge()])]), runAt("2026-03-01")));
    expect(result.documents).toEqual([]);
    expect(result.chargeUpdates).toEqual([{ chargeId: "usage-1", from: null, to: "2026-03-01" }]);
  });

  it("sums each period's records; a record on a boundary belongs to the later period", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("10", "2026-01-31"), usage("1.5", "2026-02-01"), usage("2.25", "2026-02-27"), usage("7", "2026-03-01")],
    });
    const result = expectOk(billAccount(account, runAt("2026-03-01")));
    expect(allItems(result).map((item) => [item.serviceStart, item.serviceEnd, item.quantity, item.amount])).toEqual([
      ["2026-01-01", "2026-02-01", "10", "1.00"],
      ["2026-02-01", "2026-03-01", "3.75", "0.38"],
    ]);
  });

  it("ignores records before the charged-through date and after the service end", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge({ chargedThroughDate: "2026-02-01" })], { cancelledOn: "2026-02-20" })], {
      usage: [usage("100", "2026-01-15"), usage("5", "2026-02-10"), usage("7", "2026-02-25")],
    });
    const result = expectOk(billAccount(account, runAt("2026-03-01")));
    expect(allItems(result).map((item) => [item.serviceStart, item.serviceEnd, item.quantity, item.amount])).toEqual([
      ["2026-02-01", "2026-02-20", "5", "0.50"],
    ]);
    expect(result.chargeUpdates).toEqual([{ chargeId: "usage-1", from: "2026-02-01", to: "2026-02-20" }]);
  });

  it("QUARTER usage bills the quarter's sum when the quarter ends", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge({ billingPeriod: "QUARTER" })])], {
      usage: [usage("100", "2026-01-05"), usage("200", "2026-03-31")],
    });
    expect(itemSummary(billAccount(account, runAt("2026-03-31")))).toEqual([]);
    expect(itemSummary(billAccount(account, runAt("2026-04-01")))).toEqual([["2026-01-01", "2026-04-01", "30.00"]]);
  });

  it("records summing to zero make a zero item", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], { usage: [usage("0", "2026-01-05")] });
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(itemSummary(result)).toEqual([["2026-01-01", "2026-02-01", "0.00"]]);
    expect(result.documents[0]).toMatchObject({ type: "INVOICE", total: "0.00" });
  });

  it("ignores records of other charges", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("100", "2026-01-05", { chargeId: "someone-else" })],
    });
    expect(expectOk(billAccount(account, runAt("2026-02-01"))).documents).toEqual([]);
  });

  it("a record with another unit of measure fails the subscription with USAGE_RATING_ERROR", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("12", "2026-01-15", { unitOfMeasure: "request" }), usage("3", "2026-01-16")],
    });
    const message = 'Usage of 12 request on 2026-01-15 for charge "API calls" of subscription S-00000001 cannot be rated: the charge is rated per call';
    expect(expectFailure(billAccount(account, runAt("2026-02-01"))).failure).toEqual({
      code: "USAGE_RATING_ERROR",
      message,
      subscriptions: [{ subscriptionId: "sub-1", code: "USAGE_RATING_ERROR", message }],
    });
  });

  it("several mismatched records are reported together", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("1", "2026-01-03", { unitOfMeasure: "request" }), usage("2", "2026-02-03", { unitOfMeasure: "GB" })],
    });
    expect(expectFailure(billAccount(account, runAt("2026-03-01"))).failure.message).toBe(
      '2 usage records for charge "API calls" of subscription S-00000001 are in request, GB (first on 2026-01-03) and cannot be rated: the charge is rated per call',
    );
  });

  it("a mismatched record in a period not billed yet does not fail the run", () => {
    const account = makeAccount([makeSubscription([makeUsageCharge()])], {
      usage: [usage("5", "2026-01-15"), usage("12", "2026-02-15", { unitOfMeasure: "request" })],
    });
    expect(itemSummary(billAccount(account, runAt("2026-02-01")))).toEqual([["2026-01-01", "2026-02-01", "0.50"]]);
  });
});

describe("documents", () => {
  const secondCharge = makeCharge({ id: "charge-2", name: "Support", startDate: "2026-02-01", price: "50.00" });

  it("one consolidated document for the account plus one per invoiceSeparately subscription", () => {
    const account = makeAccount([
      makeSubscription([makeCharge({ startDate: "2026-02-01" })]),
      makeSubscription([secondCharge], { id: "sub-2", subscriptionNumber: "S-00000002", invoiceSeparately: true }),
    ]);
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(result.documents.map((document) => [document.type, document.subscriptionId, document.total, document.items.map((item) => item.chargeId)])).toEqual([
      ["INVOICE", null, "30.00", ["charge-1"]],
      ["INVOICE", "sub-2", "50.00", ["charge-2"]],
    ]);
  });

  it("no document for a separately invoiced subscription with nothing to bill", () => {
    const account = makeAccount([
      makeSubscription([makeCharge({ startDate: "2026-02-01" })]),
      makeSubscription([{ ...secondCharge, startDate: "2026-05-01" }], { id: "sub-2", invoiceSeparately: true }),
    ]);
    expect(expectOk(billAccount(account, runAt("2026-02-01"))).documents.map((document) => document.subscriptionId)).toEqual([null]);
  });

  it("consolidates several subscriptions' items in subscription, charge and period order", () => {
    const account = makeAccount([
      makeSubscription([makeCharge({ id: "b", startDate: "2026-01-15", billingTiming: "IN_ARREARS" }), makeCharge({ id: "a", startDate: "2026-02-01" })]),
      makeSubscription([makeCharge({ id: "c", startDate: "2026-01-01" })], { id: "sub-2" }),
    ]);
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(result.documents).toHaveLength(1);
    expect(allItems(result).map((item) => `${item.chargeId}:${item.serviceStart}`)).toEqual(["b:2026-01-15", "a:2026-02-01", "c:2026-01-01", "c:2026-02-01"]);
    expect(result.documents[0].total).toBe("106.45"); // 30 × 17/31 = 16.45, + 30 + 30 + 30
    expect(result.chargeUpdates.map((update) => update.chargeId)).toEqual(["b", "a", "c"]);
  });

  it("a negative total makes a credit memo with a positive amount", () => {
    const result = expectOk(billAccount(single({ startDate: "2026-02-01", price: "-20.00" }), runAt("2026-02-01")));
    expect(result.documents[0]).toMatchObject({ type: "CREDIT_MEMO", total: "-20.00", amount: "20.00" });
    expect(result.documents[0].items[0]).toMatchObject({ kind: "CHARGE", amount: "-20.00" });
  });

  it("a zero total is a zero-amount invoice", () => {
    const account = makeAccount([
      makeSubscription([makeCharge({ startDate: "2026-02-01" }), makeCharge({ id: "discount", startDate: "2026-02-01", price: "-30.00" })]),
    ]);
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(result.documents).toHaveLength(1);
    expect(result.documents[0]).toMatchObject({ type: "INVOICE", total: "0.00", amount: "0.00" });
    expect(result.documents[0].items).toHaveLength(2);
  });

  it('a free charge makes a zero-amount invoice (JPY: "0")', () => {
    const result = expectOk(billAccount(single({ startDate: "2026-02-01", price: "0", currency: "JPY" }, { currency: "JPY" }), runAt("2026-02-01")));
    expect(result.documents[0]).toMatchObject({ type: "INVOICE", total: "0", amount: "0" });
  });

  it.each([
    ["2026-02-05", 30, "2026-03-07"],
    ["2026-02-05", 0, "2026-02-05"],
    ["2026-12-15", 45, "2027-01-29"],
  ])("invoice date %s with %i payment days is due %s", (invoiceDate, paymentTermDays, dueDate) => {
    const result = expectOk(billAccount(single({ startDate: "2026-02-01" }, { paymentTermDays }), runAt("2026-02-01", { invoiceDate })));
    expect(result.documents[0]).toMatchObject({ invoiceDate, dueDate });
  });

  it("an account with nothing to bill succeeds with no documents", () => {
    const result = billAccount(makeAccount([]), runAt("2026-02-01"));
    expect(result).toEqual({ accountId: "account-42", ok: true, documents: [], chargeUpdates: [] });
  });
});

describe("run filters", () => {
  const account = makeAccount(
    [
      makeSubscription([makeCharge({ startDate: "2026-02-01" }), makeUsageCharge()]),
      makeSubscription([makeCharge({ id: "setup", name: "Setup", type: "ONE_TIME", startDate: "2026-01-20", price: "99.00", billingPeriod: null })], {
        id: "sub-2",
        subscriptionNumber: "S-00000002",
      }),
    ],
    { usage: [usage("10", "2026-01-05")] },
  );

  it("chargeTypesToExclude leaves those charges unbilled and their dates untouched", () => {
    const result = expectOk(billAccount(account, runAt("2026-02-01", { chargeTypesToExclude: ["USAGE", "ONE_TIME"] })));
    expect(allItems(result).map((item) => item.chargeId)).toEqual(["charge-1"]);
    expect(result.chargeUpdates.map((update) => update.chargeId)).toEqual(["charge-1"]);
  });

  it("without exclusions every type is billed", () => {
    const result = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(allItems(result).map((item) => item.chargeId)).toEqual(["charge-1", "usage-1", "setup"]);
  });

  it("subscriptionIds bills only those subscriptions", () => {
    const result = expectOk(billAccount(account, runAt("2026-02-01", { subscriptionIds: ["sub-2"] })));
    expect(allItems(result).map((item) => item.chargeId)).toEqual(["setup"]);
    expect(result.chargeUpdates.map((update) => update.chargeId)).toEqual(["setup"]);
  });

  it("an empty subscriptionIds list bills nothing", () => {
    expect(expectOk(billAccount(account, runAt("2026-02-01", { subscriptionIds: [] }))).documents).toEqual([]);
  });

  it("a failing subscription outside the filter does not fail the account", () => {
    const mixed = makeAccount([
      makeSubscription([makeCharge({ currency: "EUR", startDate: "2026-02-01" })]),
      makeSubscription([makeCharge({ id: "charge-2", startDate: "2026-02-01" })], { id: "sub-2" }),
    ]);
    expect(expectFailure(billAccount(mixed, runAt("2026-02-01"))).failure.code).toBe("CURRENCY_MISMATCH");
    expect(itemSummary(billAccount(mixed, runAt("2026-02-01", { subscriptionIds: ["sub-2"] })))).toEqual([["2026-02-01", "2026-03-01", "30.00"]]);
  });
});

describe("failures", () => {
  const euroCharge = makeCharge({ name: "Support", currency: "EUR", startDate: "2026-02-01" });
  const euroMessage = 'Charge "Support" of subscription S-00000001 is priced in EUR but account A-00000042 bills in USD';

  it("a charge in another currency fails its subscription and the whole account (nothing billed)", () => {
    const account = makeAccount([
      makeSubscription([makeCharge({ id: "fine", startDate: "2026-02-01" }), euroCharge]),
      makeSubscription([makeCharge({ id: "also-fine", startDate: "2026-02-01" })], { id: "sub-2" }),
    ]);
    expect(billAccount(account, runAt("2026-02-01"))).toEqual({
      accountId: "account-42",
      ok: false,
      failure: {
        code: "CURRENCY_MISMATCH",
        message: euroMessage,
        subscriptions: [{ subscriptionId: "sub-1", code: "CURRENCY_MISMATCH", message: euroMessage }],
      },
    });
  });

  it("a charge in another currency with nothing due yet does not fail the account", () => {
    const account = makeAccount([makeSubscription([{ ...euroCharge, startDate: "2026-06-01" }])]);
    expect(expectOk(billAccount(account, runAt("2026-02-01"))).documents).toEqual([]);
  });

  it("reports every failing subscription; the account takes the first one's code", () => {
    const account = makeAccount([makeSubscription([euroCharge]), makeSubscription([makeUsageCharge()], { id: "sub-2", subscriptionNumber: "S-00000002" })], {
      usage: [usage("4", "2026-01-15", { unitOfMeasure: "GB" })],
    });
    const { failure } = expectFailure(billAccount(account, runAt("2026-02-01")));
    const usageMessage = 'Usage of 4 GB on 2026-01-15 for charge "API calls" of subscription S-00000002 cannot be rated: the charge is rated per call';
    expect(failure).toEqual({
      code: "CURRENCY_MISMATCH",
      message: `2 subscriptions cannot be billed: ${euroMessage}; ${usageMessage}`,
      subscriptions: [
        { subscriptionId: "sub-1", code: "CURRENCY_MISMATCH", message: euroMessage },
        { subscriptionId: "sub-2", code: "USAGE_RATING_ERROR", message: usageMessage },
      ],
    });
  });

  it("one subscription with two problems is listed once, with the first problem's code", () => {
    const account = makeAccount([makeSubscription([euroCharge, makeUsageCharge()])], {
      usage: [usage("4", "2026-01-15", { unitOfMeasure: "GB" })],
    });
    const { failure } = expectFailure(billAccount(account, runAt("2026-02-01")));
    expect(failure.subscriptions).toHaveLength(1);
    expect(failure.subscriptions[0].code).toBe("CURRENCY_MISMATCH");
    expect(failure.subscriptions[0].message).toMatch(/^Charge "Support" .* bills in USD; Usage of 4 GB on 2026-01-15 .* rated per call$/);
  });

  it.each([null, "", "   "])("a bill-to email of %j fails the account with MISSING_BILL_TO_CONTACT", (billToEmail) => {
    const account = single({ startDate: "2026-02-01" }, { billToEmail });
    expect(billAccount(account, runAt("2026-02-01"))).toEqual({
      accountId: "account-42",
      ok: false,
      failure: { code: "MISSING_BILL_TO_CONTACT", message: "Account A-00000042 has no bill-to email address", subscriptions: [] },
    });
  });

  it("a missing email comes first but subscription failures are still listed", () => {
    const account = makeAccount([makeSubscription([euroCharge])], { billToEmail: null });
    expect(expectFailure(billAccount(account, runAt("2026-02-01"))).failure).toEqual({
      code: "MISSING_BILL_TO_CONTACT",
      message: `Account A-00000042 has no bill-to email address; ${euroMessage}`,
      subscriptions: [{ subscriptionId: "sub-1", code: "CURRENCY_MISMATCH", message: euroMessage }],
    });
  });

  it("a missing email does not fail an account with nothing to bill", () => {
    const account = single({ startDate: "2026-06-01" }, { billToEmail: null });
    expect(billAccount(account, runAt("2026-02-01")).ok).toBe(true);
  });
});

describe("input the core cannot interpret", () => {
  it.each([
    ["an invalid date", single({ startDate: "2026-02-30" }), /charge startDate is not a date/],
    ["an invalid price", single({ price: "12,50" }), /price of charge "Seat" is not a decimal/],
    ["an unknown account currency", single({}, { currency: "XXX" }), /unknown currency "XXX"/],
    ["a bill cycle day of 0", single({}, { billCycleDay: 0 }), /bill cycle day 0/],
    ["a RECURRING charge without billingPeriod", single({ billingPeriod: null }), /has no valid billingPeriod/],
    [
      "a CANCELLED subscription without cancelledOn",
      makeAccount([makeSubscription([makeCharge()], { status: "CANCELLED" })]),
      /CANCELLED but has no cancelledOn/,
    ],
  ])("throws BillingInputError on %s", (_, account, message) => {
    expect(() => billAccount(account, runAt("2026-02-01"))).toThrow(BillingInputError);
    expect(() => billAccount(account, runAt("2026-02-01"))).toThrow(message);
  });

  it("throws on an invalid target date", () => {
    expect(() => prepareRun(runAt("2026-13-01"))).toThrow(/targetDate is not a date/);
  });
});

describe("re-running", () => {
  it("billing again at the same target date after storing the dates adds nothing", () => {
    const account = makeAccount([makeSubscription([makeCharge(), makeUsageCharge()])], { usage: [usage("5", "2026-01-10")] });
    const first = expectOk(billAccount(account, runAt("2026-02-01")));
    expect(allItems(first)).toHaveLength(3);
    const second = expectOk(billAccount(applyChargeUpdates(account, first.chargeUpdates), runAt("2026-02-01")));
    expect(second).toEqual({ accountId: "account-42", ok: true, documents: [], chargeUpdates: [] });
  });

  it("billAccounts with prepared options equals billAccount one by one", () => {
    const accounts = [single({}), single({ startDate: "2026-01-20" }, { id: "other", billCycleDay: 20 })];
    const options = runAt("2026-02-01");
    expect(billAccounts(accounts, prepareRun(options))).toEqual(accounts.map((account) => billAccount(account, options)));
    expect(itemSummary(billAccounts(accounts, options)[1])).toEqual([["2026-01-20", "2026-02-20", "30.00"]]);
  });
});

describe("amounts that cannot be stored", () => {
  const oneTime = { type: "ONE_TIME", startDate: "2026-02-10", billingPeriod: null, billingTiming: null } as const;

  it("an item of 10^20 or more fails its subscription with AMOUNT_OUT_OF_RANGE", () => {
    const { failure } = expectFailure(
      billAccount(single({ ...oneTime, name: "Huge", price: "999999999999999.99999999", quantity: "999999999999999.99999999" }), runAt("2026-03-01")),
    );
    expect(failure.code).toBe("AMOUNT_OUT_OF_RANGE");
    expect(failure.subscriptions).toEqual([{ subscriptionId: "sub-1", code: "AMOUNT_OUT_OF_RANGE", message: expect.stringContaining('Charge "Huge"') }]);
  });

  it("the largest item that fits is billed; a document of two of them is not (account level)", () => {
    // 99999999999999999999.99 USD: 20 digits before the point.
    const largest = { ...oneTime, price: "999999999999999.99", quantity: "100000" };
    expect(itemSummary(billAccount(single(largest), runAt("2026-03-01")))).toEqual([["2026-02-10", "2026-02-10", "99999999999999999000.00"]]);
    const two = makeAccount([makeSubscription([makeCharge({ ...largest, id: "a", name: "A" }), makeCharge({ ...largest, id: "b", name: "B" })])]);
    const { failure } = expectFailure(billAccount(two, runAt("2026-03-01")));
    expect(failure).toMatchObject({ code: "AMOUNT_OUT_OF_RANGE", subscriptions: [] });
    expect(failure.message).toContain("10^20");
  });

  it("a credit memo is bounded alike (a large negative total)", () => {
    const credit = { ...oneTime, price: "-999999999999999.99", quantity: "100000" };
    const two = makeAccount([makeSubscription([makeCharge({ ...credit, id: "a", name: "A" }), makeCharge({ ...credit, id: "b", name: "B" })])]);
    expect(expectFailure(billAccount(two, runAt("2026-03-01"))).failure.message).toContain("a credit memo");
  });
});
