import { describe, expect, it } from "vitest";
import pino from "pino";
import { AccessWatch, type AccessLoss, type Session } from "./access.ts";
import type { Db } from "../db/client.ts";

/** The database is only read by `check`, which these cases never reach. */
const watchWithoutDatabase = () => new AccessWatch(null as unknown as Db, pino({ level: "silent" }), 3_600_000);

function session(tokenId: string, userId: string, role: Session["role"]): Session & { ended: AccessLoss[] } {
  const ended: AccessLoss[] = [];
  return { tokenId, userId, role, ended, end: (loss) => ended.push(loss) };
}

describe("AccessWatch", () => {
  it("ends, at once, the sessions a notice takes access from, and no other", () => {
    const watch = watchWithoutDatabase();
    const revoked = session("t1", "u1", "VIEWER");
    const sameUserOtherToken = session("t2", "u1", "VIEWER");
    const demoted = session("t3", "u2", "ADMIN");
    const disabled = session("t4", "u3", "VIEWER");
    for (const s of [revoked, sameUserOtherToken, demoted, disabled]) watch.watch(s, watch.mark());

    watch.apply({ kind: "TOKEN_REVOKED", tokenId: "t1" });
    expect(revoked.ended).toEqual([{ code: "UNAUTHENTICATED", message: "token revoked" }]);
    expect(sameUserOtherToken.ended).toEqual([]);

    watch.apply({ kind: "USER_CHANGED", userId: "u2", role: "ADMIN", disabled: false });
    expect(demoted.ended).toEqual([]);
    watch.apply({ kind: "USER_CHANGED", userId: "u2", role: "OPERATOR", disabled: false });
    expect(demoted.ended).toEqual([{ code: "FORBIDDEN", message: "role changed: reconnect" }]);

    watch.apply({ kind: "USER_CHANGED", userId: "u3", role: "VIEWER", disabled: true });
    expect(disabled.ended).toEqual([{ code: "UNAUTHENTICATED", message: "user disabled" }]);
    expect(watch.size).toBe(1);
    // An ended session is not ended twice.
    watch.apply({ kind: "TOKEN_REVOKED", tokenId: "t1" });
    expect(revoked.ended).toHaveLength(1);
    watch.stop();
  });

  it("applies to a session the notices heard while it was being authenticated", () => {
    const watch = watchWithoutDatabase();
    const mark = watch.mark();
    // The token was read before this revocation committed; the notice arrived before the session was registered.
    watch.apply({ kind: "TOKEN_REVOKED", tokenId: "t1" });
    watch.apply({ kind: "USER_CHANGED", userId: "u9", role: "VIEWER", disabled: false });
    const late = session("t1", "u1", "OPERATOR");
    const unaffected = session("t2", "u2", "OPERATOR");
    watch.watch(late, mark);
    watch.watch(unaffected, mark);
    expect(late.ended).toEqual([{ code: "UNAUTHENTICATED", message: "token revoked" }]);
    expect(unaffected.ended).toEqual([]);
    expect(watch.size).toBe(1);
    // Notices heard before its mark are not its business.
    const fresh = session("t1", "u1", "OPERATOR");
    watch.watch(fresh, watch.mark());
    expect(fresh.ended).toEqual([]);
    watch.stop();
  });

  it("forgets a session once its unwatch function is called", () => {
    const watch = watchWithoutDatabase();
    const s = session("t1", "u1", "VIEWER");
    const unwatch = watch.watch(s, watch.mark());
    unwatch();
    watch.apply({ kind: "TOKEN_REVOKED", tokenId: "t1" });
    expect(s.ended).toEqual([]);
    expect(watch.size).toBe(0);
    watch.stop();
  });
});
