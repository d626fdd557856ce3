// Amounts, prices and quantities on the wire are formatted by the billing core, the one place
// that turns money into text (emails and messages use the same functions).
export { formatAmount, formatQuantity, formatUnitPrice as formatPrice } from "../billing/money.ts";
