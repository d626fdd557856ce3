// Entry point: the sign-in gate, the header, and a hash router over the screens.
import "./style.css";
import { ApiError, getToken, onLiveState, request, setToken, whenUnauthenticated } from "./api.ts";
import { DashboardMeDocument } from "../../src/generated/graphql/graphql.ts";
import { renderSignIn } from "./views/sign-in.ts";
import { renderRunList } from "./views/run-list.ts";
import { renderRunDetail } from "./views/run-detail.ts";
import { renderNewRun } from "./views/new-run.ts";
import { renderSchedules } from "./views/schedules.ts";
import { renderImports } from "./views/imports.ts";
import { h, fill, focusHeading } from "./dom.ts";
import { session, type Cleanup } from "./session.ts";

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
const sessionBox = document.getElementById("session")!;
const userLabel = document.getElementById("user")!;
const liveLabel = document.getElementById("live")!;

let cleanup: Cleanup = () => {};
let firstRender = true;

/** "#/runs/abc?tab=failed" → { path: ["runs", "abc"], query } */
function currentRoute(): { path: string[]; query: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?");
  return { path: path.split("/").filter(Boolean), query: new URLSearchParams(query) };
}

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
  const { path, query } = currentRoute();
  const section = path[0] === "schedules" || path[0] === "imports" ? path[0] : path[0] === "runs" && path[1] === "new" ? "new" : "runs";
  for (const link of nav.querySelectorAll<HTMLAnchorElement>("a[data-nav]")) {
    if (link.dataset.nav === section && path.length <= 2 && !(section === "runs" && path[1])) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  if (path[0] === "schedules") cleanup = renderSchedules(main);
  else if (path[0] === "imports") cleanup = renderImports(main, path[1] ? decodeURIComponent(path[1]) : null);
  else if (path[0] === "runs" && path[1] === "new") cleanup = renderNewRun(main);
  else if (path[0] === "runs" && path[1]) cleanup = renderRunDetail(main, decodeURIComponent(path[1]), query);
  else cleanup = renderRunList(main, query);
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
    if (!location.hash || location.hash === "#/") location.hash = "#/runs";
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

window.addEventListener("hashchange", () => void route());
void route();
