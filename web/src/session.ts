// State shared by the screens: who is signed in, and a notice carried to the next screen.
import type { DashboardMeQuery } from "../../src/generated/graphql/graphql.ts";

/** What a screen returns: stops its subscriptions and timers when another screen replaces it. */
export type Cleanup = () => void;

export const session: {
  me: NonNullable<DashboardMeQuery["me"]> | null;
  /** Shown once by the next screen (e.g. "BR-00000007 created"). */
  notice: string | null;
} = { me: null, notice: null };

export function canOperate(): boolean {
  return session.me?.role === "OPERATOR" || session.me?.role === "ADMIN";
}

/** Says something to screen-reader users without moving focus. */
export function announce(message: string): void {
  const announcer = document.getElementById("announcer");
  if (!announcer) return;
  announcer.textContent = "";
  // A fresh text node after a tick, so that the same message twice is announced twice.
  setTimeout(() => (announcer.textContent = message), 50);
}

export function takeNotice(): string | null {
  const notice = session.notice;
  session.notice = null;
  return notice;
}
