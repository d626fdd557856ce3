import { describe, expect, it } from "vitest";
import { runMetrics } from "../../src/graphql/types/billruns.ts";
import { formatDuration } from "../../src/notifications/compose.ts";
import { formatSeconds } from "../../web/src/views/run-timing.ts";

const at = (seconds: number) => new Date(Date.UTC(2026, 1, 1) + seconds * 1000);
const base = { accountsProcessed: 0, invoiceCount: 0, creditMemoCount: 0 };

describe("BillRun.metrics", () => {
  it("splits a posted run into waiting, processing and posting, and derives its throughput", () => {
    const metrics = runMetrics({
      ...base,
      status: "POSTED",
      createdAt: at(0),
      startedAt: at(4),
      completedAt: at(84),
      accountsProcessed: 1000,
      invoiceCount: 900,
      creditMemoCount: 60,
      events: [
        { fromStatus: null, toStatus: "PENDING", createdAt: at(0) },
        { fromStatus: "PENDING", toStatus: "PROCESSING", createdAt: at(4) },
        { fromStatus: "PROCESSING", toStatus: "COMPLETED", createdAt: at(84) },
        // Posted once, stopped (an account was not ACTIVE), posted again after a review.
        { fromStatus: "COMPLETED", toStatus: "POST_IN_PROGRESS", createdAt: at(300) },
        { fromStatus: "POST_IN_PROGRESS", toStatus: "COMPLETED", createdAt: at(310) },
        { fromStatus: "COMPLETED", toStatus: "POST_IN_PROGRESS", createdAt: at(600) },
        { fromStatus: "POST_IN_PROGRESS", toStatus: "POSTED", createdAt: at(615.5) },
      ],
    });
    expect(metrics).toEqual({
      wallSeconds: 615.5,
      waitingSeconds: 4,
      processingSeconds: 80,
      postingSeconds: 25.5,
      accountsPerSecond: 12.5,
      documentsPerSecond: 12,
    });
  });

  it("counts a phase still running up to now, and leaves phases that never happened null", () => {
    const now = at(130);
    const processing = runMetrics(
      { ...base, status: "PROCESSING", createdAt: at(0), startedAt: at(10), completedAt: null, accountsProcessed: 300, events: [] },
      now,
    );
    expect(processing).toEqual({
      wallSeconds: 130,
      waitingSeconds: 10,
      processingSeconds: 120,
      postingSeconds: null,
      accountsPerSecond: 2.5,
      documentsPerSecond: 0,
    });
    const paused = runMetrics({ ...base, status: "PAUSED", createdAt: at(0), startedAt: null, completedAt: null, events: [] }, now);
    expect(paused).toMatchObject({ wallSeconds: 130, waitingSeconds: 130, processingSeconds: null, accountsPerSecond: null });
    // Canceled before it started: its clock stopped at the cancel.
    const canceled = runMetrics(
      {
        ...base,
        status: "CANCELED",
        createdAt: at(0),
        startedAt: null,
        completedAt: null,
        events: [{ fromStatus: "PENDING", toStatus: "CANCELED", createdAt: at(20) }],
      },
      now,
    );
    expect(canceled).toMatchObject({ wallSeconds: 20, waitingSeconds: null, processingSeconds: null, postingSeconds: null });
  });
});

describe("durations in words", () => {
  it("reads as an operator says them", () => {
    expect(formatDuration(0.4)).toBe("0 s");
    expect(formatDuration(42)).toBe("42 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(7620)).toBe("2 h 07 min");
    expect(formatSeconds(0.85)).toBe("850 ms");
    expect(formatSeconds(185)).toBe("3 min 05 s");
    expect(formatSeconds(null)).toBe("—");
  });
});
