// Entry point: the sign-in gate, the header, and the table of screens (web/src/router.ts).
import "./style.css";
import { ApiError, getToken, onLiveState, request, setToken, whenUnauthenticated } from "./api.ts";
import { DashboardMeDocument } from "../../src/generated/graphql/graphql.ts";
import { renderSignIn } from "./views/sign-in.ts";
import { renderRunList } from "./views/run-list.ts";
import { renderRunDetail } from "./views/run-detail.ts";
import { renderNewRun } from "./views/new-run.ts";
import { renderSchedules } from "./views/schedules.ts";
import { renderDocument } from "./views/document.ts";
import { renderAccount, renderAccountSearch } from "./views/accounts.ts";
import { renderWebhooks } from "./views/webhooks.ts";
import { renderImports } from "./views/imports.ts";
import { h, fill, focusHeading } from "./dom.ts";
import { addRoutes, currentRoute, navigate, startRouter } from "./router.ts";
import { session, type Cleanup } from "./session.ts";

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
const sessionBox = document.getElementById("session")!;
const userLabel = document.getElementById("user")!;
const liveLabel = document.getElementById("live")!;

const ID = "([^/]+)";
addRoutes(
  { pattern: /^\/bill-runs$/, section: "runs", render: (m, _p, q) => renderRunList(m, q) },
  { pattern: /^\/bill-runs\/new$/, section: "new", render: (m) => renderNewRun(m) },
  {
    pattern: new RegExp(`^/bill-runs/${ID}(?:/(invoices|credit-memos|failed|history))?$`),
    section: "runs",
    render: (m, [id, tab], q) => renderRunDetail(m, id!, tab || "invoices", q),
  },
  { pattern: new RegExp(`^/invoices/${ID}$`), section: "runs", render: (m, [id], q) => renderDocument(m, "invoice", id!, q) },
  { pattern: new RegExp(`^/credit-memos/${ID}$`), section: "runs", render: (m, [id], q) => renderDocument(m, "credit-memo", id!, q) },
  { pattern: /^\/accounts$/, section: "accounts", render: (m, _p, q) => renderAccountSearch(m, q) },
  { pattern: new RegExp(`^/accounts/${ID}$`), section: "accounts", render: (m, [id], q) => renderAccount(m, id!, q) },
  { pattern: /^\/schedules$/, section: "schedules", render: (m) => renderSchedules(m, null) },
  { pattern: new RegExp(`^/schedules/${ID}$`), section: "schedules", render: (m, [id]) => renderSchedules(m, id!) },
  { pattern: /^\/webhooks$/, section: "webhooks", render: (m) => renderWebhooks(m) },
  { pattern: /^\/imports$/, section: "imports", render: (m) => renderImports(m, null) },
  { pattern: new RegExp(`^/imports/${ID}$`), section: "imports", render: (m, [id]) => renderImports(m, id!) },
);

let cleanup: Cleanup = () => {};
let firstRender = true;

async function route(): Promise<void> {
  cleanup();
  cleanup = () => {};
  if (!getToken()) return showSignIn();
  if (!session.me) {
    try {
      const { me } = await request(DashboardMeDocument, {});
      if (!me) return showSignIn("That token was not accepted.");
      session.me = me;
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return showSignIn("That token was not accepted. Paste a valid API token.");
      fill(main, h("h1", {}, "Billrun"), h("p", { class: "error", role: "alert" }, (error as Error).message));
      return;
    }
  }
  showChrome(true);
  const found = currentRoute();
  if (!found) {
    if (location.pathname === "/" || location.pathname === "/index.html") return navigate("/bill-runs", { replace: true });
    fill(main, h("h1", {}, "Page not found"), h("p", {}, "There is no screen at this address. ", h("a", { href: "/bill-runs" }, "Go to the bill runs.")));
    return;
  }
  for (const link of nav.querySelectorAll<HTMLAnchorElement>("a[data-nav]")) {
    if (link.pathname === location.pathname) link.setAttribute("aria-current", "page");
    else if (link.dataset.nav === found.route.section) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  cleanup = found.route.render(main, found.params, found.query);
  // The first screen keeps the browser's natural focus; later ones move it to their heading.
  if (!firstRender) focusHeading(main);
  firstRender = false;
}

function showChrome(signedIn: boolean): void {
  nav.hidden = !signedIn;
  sessionBox.hidden = !signedIn;
  userLabel.textContent = signedIn && session.me ? `${session.me.email} (${session.me.role})` : "";
}

function showSignIn(message?: string): void {
  session.me = null;
  showChrome(false);
  cleanup = renderSignIn(main, message, async (token) => {
    setToken(token);
    session.me = null;
    if (!currentRoute()) history.replaceState(null, "", "/bill-runs");
    await route();
    focusHeading(main);
  });
}

document.getElementById("sign-out")!.addEventListener("click", () => {
  setToken(null);
  session.me = null;
  void route();
});

whenUnauthenticated(() => {
  if (!getToken()) return;
  setToken(null);
  cleanup();
  cleanup = () => {};
  showSignIn("The server no longer accepts your token. Paste a valid API token.");
});

onLiveState((state) => {
  liveLabel.dataset.state = state;
  liveLabel.textContent = state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "";
});

startRouter(() => void route());
