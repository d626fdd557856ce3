import { Decimal } from "decimal.js";
import { minorUnits } from "../billing/money.ts";

type DecimalLike = string | { toString(): string };

/** An amount with exactly the currency's minor units: "12.50", "1200" (JPY), "1.235" (KWD). */
export function formatAmount(value: DecimalLike, currency: string): string {
  return new Decimal(value.toString()).toFixed(minorUnits(currency), Decimal.ROUND_HALF_UP);
}

/** A unit price keeps its own precision but never shows fewer places than the currency has. */
export function formatPrice(value: DecimalLike, currency: string): string {
  const d = new Decimal(value.toString());
  return d.toFixed(Math.max(minorUnits(currency), d.decimalPlaces()));
}

export function formatQuantity(value: DecimalLike): string {
  return new Decimal(value.toString()).toFixed();
}
