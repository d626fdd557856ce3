// A tiny DOM builder and the formatting shared by the screens.
import { formatInstant, formatMoney } from "./format.ts";

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | ((event: never) => void);
export type Attrs = Record<string, AttrValue>;

/** h("button", { type: "button", onclick: () => ... }, "Post"): an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value as EventListener);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

const SVG = "http://www.w3.org/2000/svg";

/** The alert icon shown next to the status of a run that produced errors. */
export function alertIcon(): HTMLElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M8 1.5 15 14.5H1L8 1.5Z");
  path.setAttribute("fill", "currentColor");
  const bang = document.createElementNS(SVG, "path");
  bang.setAttribute("d", "M7.25 6h1.5v4.5h-1.5zM7.25 11.5h1.5V13h-1.5z");
  bang.setAttribute("fill", "#fff");
  svg.append(path, bang);
  return h("span", { class: "alert-icon", role: "img", "aria-label": "has errors", title: "has errors" }, svg);
}

const STATUS_LABELS: Record<string, string> = {
  PENDING: "Pending",
  PAUSED: "Paused",
  PROCESSING: "Processing",
  COMPLETED: "Completed",
  ERROR: "Error",
  POST_IN_PROGRESS: "Posting",
  POSTED: "Posted",
  CANCEL_IN_PROGRESS: "Canceling",
  CANCELED: "Canceled",
  REMOVE_IN_PROGRESS: "Deleting",
  REMOVED: "Deleted",
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

/** A status badge (data-status carries the API's value), with the alert icon when the run has errors. */
export function statusBadge(status: string, hasErrors = false): HTMLElement {
  return h(
    "span",
    { class: "status-cell" },
    h("span", { class: `badge badge-${status.toLowerCase().replaceAll("_", "-")}`, "data-status": status }, statusLabel(status)),
    hasErrors ? alertIcon() : null,
  );
}

/** An instant, in the browser's time zone (or the one given), named, in a <time> element. */
export function formatDateTime(iso: string | null | undefined, timeZone?: string): Child {
  if (!iso) return "—";
  return h("time", { datetime: iso }, formatInstant(iso, timeZone));
}

/**
 * Totals per currency as a compact list (wrapping, one "USD 1,234.50" per item). Amounts stay
 * the API's decimal strings: nothing goes through a binary float.
 */
export function formatTotals(totals: { currency: string; amount: string }[]): Child {
  if (totals.length === 0) return "—";
  return h(
    "ul",
    { class: "plain totals" },
    totals.map((t) => h("li", { "data-currency": t.currency }, formatMoney(t.amount, t.currency))),
  );
}

/** Moves focus to a screen's heading, so keyboard and screen-reader users start at the top of it. */
export function focusHeading(root: Element): void {
  const heading = root.querySelector<HTMLElement>("h1");
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: false });
}

/** Pagination over a Relay connection: a stack of `after` cursors, one per page seen. */
export class Pager {
  private cursors: (string | null)[] = [null];
  pageSize: number;
  constructor(pageSize: number) {
    this.pageSize = pageSize;
  }
  get after(): string | null {
    return this.cursors[this.cursors.length - 1]!;
  }
  get page(): number {
    return this.cursors.length;
  }
  next(endCursor: string | null): void {
    if (endCursor) this.cursors.push(endCursor);
  }
  previous(): void {
    if (this.cursors.length > 1) this.cursors.pop();
  }
  reset(): void {
    this.cursors = [null];
  }
}

/** "Previous / Page n of m / Next" controls for a Pager. */
export function pagerControls(
  label: string,
  pager: Pager,
  totalCount: number,
  hasNextPage: boolean,
  endCursor: string | null,
  reload: () => void,
): HTMLElement {
  const pages = Math.max(1, Math.ceil(totalCount / pager.pageSize));
  if (pages === 1 && pager.page === 1) return h("p", { class: "muted pager" }, `${totalCount} in all`);
  return h(
    "nav",
    { class: "pager", "aria-label": `${label} pages` },
    h("button", { type: "button", disabled: pager.page === 1, onclick: () => (pager.previous(), reload()) }, "Previous page"),
    h("span", { class: "muted" }, `Page ${pager.page} of ${pages} (${totalCount} in all)`),
    h("button", { type: "button", disabled: !hasNextPage, onclick: () => (pager.next(endCursor), reload()) }, "Next page"),
  );
}
