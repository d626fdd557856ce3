// Addresses of the screens: real paths (/bill-runs/<id>, /invoices/<id> ...) that the service
// answers with the app, so links from emails and bookmarks open the screen; the History API moves
// between them without reloading. A page is one entry of ROUTES: add a line to add a page (and
// its path prefix to APP_PATHS in src/http.ts).
import type { Cleanup } from "./session.ts";

export interface Route {
  /** Matched against the whole path; its groups are the screen's parameters. */
  pattern: RegExp;
  /** Which main navigation entry is current on this screen. */
  section: string;
  render: (main: HTMLElement, params: string[], query: URLSearchParams) => Cleanup;
}

const routes: Route[] = [];
let onNavigate: () => void = () => {};

export function addRoutes(...list: Route[]): void {
  routes.push(...list);
}

/** The route of the current address, with its parameters (decoded), or null. */
export function currentRoute(): { route: Route; params: string[]; query: URLSearchParams } | null {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match) return { route, params: match.slice(1).map((p) => decodeURIComponent(p ?? "")), query: new URLSearchParams(location.search) };
  }
  return null;
}

/** Goes to `href` (a path of this app) as a link would: a new history entry, or replacing this one. */
export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (options.replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  onNavigate();
}

/** Changes the address (e.g. a tab or a filter) without rendering the screen again. */
export function setAddress(href: string): void {
  history.replaceState(null, "", href);
}

/** Starts routing: same-origin links and back/forward render screens in place. */
export function startRouter(render: () => void): void {
  onNavigate = render;
  // Addresses of older versions (#/runs/<id>) keep working.
  const legacy = /^#\/runs(?:\/([^?]+))?(?:\?(.*))?$/.exec(location.hash);
  if (legacy) {
    const id = legacy[1];
    const tab = new URLSearchParams(legacy[2] ?? "").get("tab");
    history.replaceState(null, "", id === "new" ? "/bill-runs/new" : id ? `/bill-runs/${id}${tab ? `/${tab}` : ""}` : "/bill-runs");
  } else if (location.hash === "#/schedules") {
    history.replaceState(null, "", "/schedules");
  }
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download") || link.origin !== location.origin) return;
    const url = new URL(link.href);
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return; // an in-page anchor (skip link)
    if (url.pathname.startsWith("/graphql") || url.pathname.startsWith("/documents/") || url.pathname.startsWith("/exports/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => onNavigate());
  onNavigate();
}
