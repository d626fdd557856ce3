import { describe, expect, it } from "vitest";
import {
  compareDecimals,
  CURRENCY_CODES,
  divideHalfUp,
  fitsCurrency,
  formatDecimal,
  formatAmount,
  formatMinorUnits,
  formatMoney,
  formatQuantity,
  formatUnitPrice,
  isCurrency,
  isDecimalString,
  minorUnits,
  parseDecimal,
  roundToCurrency,
  scaleAndRound,
  sumAmounts,
} from "./money.ts";

describe("currencies", () => {
  it.each([
    ["USD", 2],
    ["EUR", 2],
    ["GBP", 2],
    ["CAD", 2],
    ["AUD", 2],
    ["JPY", 0],
    ["KRW", 0],
    ["KWD", 3],
    ["BHD", 3],
  ])("%s has %i minor units", (code, units) => {
    expect(isCurrency(code)).toBe(true);
    expect(minorUnits(code)).toBe(units);
  });

  it("lists exactly the nine supported codes", () => {
    expect([...CURRENCY_CODES].sort()).toEqual(["AUD", "BHD", "CAD", "EUR", "GBP", "JPY", "KRW", "KWD", "USD"]);
  });

  it.each(["usd", "XXX", "", "toString", "__proto__"])("rejects %j", (code) => {
    expect(isCurrency(code)).toBe(false);
    expect(() => minorUnits(code)).toThrow(/Unknown currency/);
  });
});

describe("decimal strings", () => {
  it.each([
    ["12.50", 1250n, 2],
    ["-3", -3n, 0],
    ["0.125", 125n, 3],
    ["-0.05", -5n, 2],
    ["007", 7n, 0],
  ])("parses %s exactly", (text, units, scale) => {
    expect(parseDecimal(text)).toEqual({ units, scale });
  });

  it.each(["", "1e3", "+1", "1.", ".5", "1,000", "12.5.0", " 1", "NaN", "--1"])("rejects %j", (text) => {
    expect(isDecimalString(text)).toBe(false);
    expect(() => parseDecimal(text)).toThrow(/Not a decimal/);
  });

  it("formats minor units with exactly the currency's digits", () => {
    expect(formatMinorUnits(12340n, "USD")).toBe("123.40");
    expect(formatMinorUnits(1200n, "JPY")).toBe("1200");
    expect(formatMinorUnits(1235n, "KWD")).toBe("1.235");
    expect(formatMinorUnits(-5n, "USD")).toBe("-0.05");
    expect(formatMinorUnits(0n, "BHD")).toBe("0.000");
  });

  it("formats a decimal without trailing zeros", () => {
    expect(formatDecimal(parseDecimal("1.50"))).toBe("1.5");
    expect(formatDecimal(parseDecimal("2.000"))).toBe("2");
    expect(formatDecimal(parseDecimal("-0.0100"))).toBe("-0.01");
  });

  it("compares exactly across scales", () => {
    expect(compareDecimals("1.10", "1.1")).toBe(0);
    expect(compareDecimals("0.3", "0.29999999999999999999")).toBe(1);
    expect(compareDecimals("-2", "1")).toBe(-1);
  });

  it("checks an amount fits a currency", () => {
    expect(fitsCurrency("12.50", "USD")).toBe(true);
    expect(fitsCurrency("12.505", "USD")).toBe(false);
    expect(fitsCurrency("100", "JPY")).toBe(true);
    expect(fitsCurrency("100.0", "JPY")).toBe(false);
  });
});

describe("HALF_UP rounding", () => {
  it.each([
    [5n, 2n, 3n],
    [-5n, 2n, -3n],
    [7n, 2n, 4n],
    [3n, 2n, 2n],
    [1n, 3n, 0n],
    [2n, 3n, 1n],
    [-2n, 3n, -1n],
    [-1n, 3n, 0n],
    [5n, -2n, -3n],
  ])("%i ÷ %i → %i (ties away from zero)", (numerator, denominator, expected) => {
    expect(divideHalfUp(numerator, denominator)).toBe(expected);
  });

  it("refuses to divide by zero", () => {
    expect(() => divideHalfUp(1n, 0n)).toThrow(/zero/);
  });

  it.each([
    ["0.125", "USD", "0.13"],
    ["-0.125", "USD", "-0.13"],
    ["0.124999", "USD", "0.12"],
    ["2.5", "JPY", "3"],
    ["-2.5", "JPY", "-3"],
    ["1.2345", "KWD", "1.235"],
    ["1.2344", "BHD", "1.234"],
    ["7", "USD", "7.00"],
  ])("rounds %s %s to %s", (amount, currency, expected) => {
    expect(roundToCurrency(amount, currency)).toBe(expected);
  });

  it("rounds price × fraction once: 30 × 22 ÷ 31 = 21.29", () => {
    expect(scaleAndRound(parseDecimal("30.00"), 22n, 31n, 2)).toBe(2129n);
    // 1000 JPY × 22/31 = 709.677… → 710
    expect(scaleAndRound(parseDecimal("1000"), 22n, 31n, 0)).toBe(710n);
    // 0.01 × 14/28 = 0.005 exactly → 0.01
    expect(scaleAndRound(parseDecimal("0.01"), 14n, 28n, 2)).toBe(1n);
    expect(scaleAndRound(parseDecimal("-0.01"), 14n, 28n, 2)).toBe(-1n);
  });

  it("sums rounded amounts exactly (no float drift: 0.1 + 0.2 = 0.30)", () => {
    expect(sumAmounts(["0.10", "0.20"], "USD")).toBe("0.30");
    expect(sumAmounts(["1.005", "-0.004"], "USD")).toBe("1.01");
    expect(sumAmounts([], "KWD")).toBe("0.000");
  });
});

describe("amounts as text", () => {
  it.each([
    ["20.0000", "USD", "20.00", "USD 20.00"],
    ["2000.0000", "JPY", "2000", "JPY 2000"],
    ["20.0000", "KWD", "20.000", "KWD 20.000"],
    ["-15.0000", "USD", "-15.00", "USD -15.00"],
    ["0.005", "USD", "0.01", "USD 0.01"],
    ["1.2345", "KWD", "1.235", "KWD 1.235"],
    ["0.5", "JPY", "1", "JPY 1"],
  ])("%s %s is %s", (amount, currency, digits, text) => {
    expect(formatAmount(amount, currency)).toBe(digits);
    expect(formatMoney(amount, currency)).toBe(text);
  });

  it("reads Decimal objects through toFixed, never through exponent notation", () => {
    expect(formatAmount({ toFixed: () => "20.0000" }, "USD")).toBe("20.00");
    expect(formatUnitPrice({ toFixed: () => "0.00000001" }, "USD")).toBe("0.00000001");
  });

  it("keeps a unit price's own precision, never fewer places than the currency", () => {
    expect(formatUnitPrice("0.10000000", "USD")).toBe("0.10");
    expect(formatUnitPrice("0.01250000", "USD")).toBe("0.0125");
    expect(formatUnitPrice("5", "KWD")).toBe("5.000");
    expect(formatUnitPrice("1000.00000000", "JPY")).toBe("1000");
    expect(formatQuantity("10.0000")).toBe("10");
    expect(formatQuantity("2.5000")).toBe("2.5");
  });

  it("refuses an unknown currency", () => {
    expect(() => formatMoney("1.00", "XXX")).toThrow(RangeError);
  });
});
