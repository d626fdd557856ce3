// Wall-clock time in IANA time zones with nothing but Intl (Node 24 has no Temporal).
// Calendar days are handled as day numbers (days since 1970-01-01), which makes date
// arithmetic exact and independent of any zone.

const MINUTE = 60_000;
export const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True for a time-zone name such as "Europe/London" or "UTC" (not an offset like "+02:00"). */
export function isValidTimeZone(timeZone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(timeZone) || timeZone.length > 64) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallTime(timeZone: string, epochMs: number): WallTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(epochMs))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** The zone's offset from UTC at an instant, in milliseconds (local wall time − UTC). */
export function offsetAt(timeZone: string, epochMs: number): number {
  const seconds = Math.floor(epochMs / 1000) * 1000;
  const w = wallTime(timeZone, seconds);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - seconds;
}

/** Day number of the zone's local calendar day at an instant. */
export function localDayAt(timeZone: string, epochMs: number): number {
  const w = wallTime(timeZone, epochMs);
  return Date.UTC(w.year, w.month - 1, w.day) / DAY;
}

/**
 * The instant at which the zone's clocks show `minuteOfDay` on local day `dayNumber`.
 * A wall time that happens twice (clocks set back) gives the first of the two; one that never
 * happens (clocks set forward over it) gives the first instant after the gap, i.e. the moment
 * the clocks jump.
 */
export function instantOf(timeZone: string, dayNumber: number, minuteOfDay: number): number {
  const wall = dayNumber * DAY + minuteOfDay * MINUTE;
  // Every offset in force within a day either side: a wall time can only map through one of them.
  const offsets = [...new Set([offsetAt(timeZone, wall - DAY), offsetAt(timeZone, wall), offsetAt(timeZone, wall + DAY)])];
  const valid = offsets.map((o) => wall - o).filter((t) => offsetAt(timeZone, t) === wall - t);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: before the transition the instant wall − o(before) lies after it, wall − o(after)
  // before it. Find the transition (to the second) between the two.
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  const before = offsetAt(timeZone, lo);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetAt(timeZone, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}
