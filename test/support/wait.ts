/**
 * Polls `check` until it returns a value other than undefined, null or false, and resolves with that
 * value. A `check` that throws counts as "not yet". Rejects with `timed out waiting for <what>` (and the
 * last error `check` threw) once `timeoutMs` have passed; checks every `everyMs`. `what` may be a
 * function, read only on failure, to describe the state at that moment.
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
