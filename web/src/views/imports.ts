// Import: send a file of accounts, subscriptions or usage, follow it live, then read its rejected rows.
import { ApiError, getToken, request, subscribe } from "../api.ts";
import { h, fill, formatDateTime, Pager, pagerControls } from "../dom.ts";
import { announce, canOperate, type Cleanup } from "../session.ts";
import {
  DashboardImportJobDocument,
  DashboardImportJobsDocument,
  DashboardImportProgressDocument,
  type DashboardImportJobFragment,
} from "../../../src/generated/graphql/graphql.ts";

const KINDS = [
  { value: "accounts", label: "Accounts" },
  { value: "subscriptions", label: "Subscriptions with charges" },
  { value: "usage", label: "Usage" },
] as const;
const ERRORS_PAGE = 50;
const FINISHED = new Set(["COMPLETED", "FAILED"]);

const kindLabel = (kind: string) => ({ ACCOUNTS: "Accounts", SUBSCRIPTIONS: "Subscriptions", USAGE: "Usage" })[kind] ?? kind;
const percent = (progress: number) => `${Math.floor(progress * 100)}%`;

export function renderImports(main: HTMLElement, selectedId: string | null): Cleanup {
  let disposed = false;
  let stopProgress: () => void = () => {};

  const kind = h(
    "select",
    { id: "import-kind", name: "kind" },
    KINDS.map((k) => h("option", { value: k.value }, k.label)),
  );
  const format = h(
    "select",
    { id: "import-format", name: "format" },
    h("option", { value: "" }, "From the file name"),
    h("option", { value: "csv" }, "CSV"),
    h("option", { value: "ndjson" }, "NDJSON"),
  );
  const mode = h(
    "select",
    { id: "import-mode", name: "mode" },
    h("option", { value: "create" }, "Create"),
    h("option", { value: "upsert" }, "Create or update (UPSERT)"),
  );
  const modeField = h("div", { class: "field" }, h("label", { for: "import-mode" }, "Mode"), mode);
  const atomic = h("input", { id: "import-atomic", type: "checkbox", name: "atomic" });
  const file = h("input", { id: "import-file", type: "file", name: "file", accept: ".csv,.ndjson,.jsonl,text/csv,application/x-ndjson", required: true });
  const submit = h("button", { type: "submit", class: "primary", disabled: !canOperate() }, "Import");
  const message = h("p", { class: "action-message", role: "alert", tabindex: "-1" });
  kind.addEventListener("change", () => (modeField.hidden = kind.value === "usage"));

  const form = h(
    "form",
    { class: "import-form", onsubmit: (event: Event) => (event.preventDefault(), void send()) },
    h("div", { class: "field" }, h("label", { for: "import-kind" }, "Kind"), kind),
    h("div", { class: "field" }, h("label", { for: "import-file" }, "File"), file),
    h("div", { class: "field" }, h("label", { for: "import-format" }, "Format"), format),
    modeField,
    h("div", { class: "field checkbox" }, atomic, h("label", { for: "import-atomic" }, "All or nothing (one rejected row imports nothing)")),
    h("div", { class: "actions" }, submit),
  );

  const detail = h("section", { id: "import-detail", "aria-label": "Import" });
  const list = h(
    "section",
    { "aria-labelledby": "recent-imports" },
    h("h2", { id: "recent-imports" }, "Recent imports"),
    h("p", { class: "muted" }, "Loading…"),
  );
  fill(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Import")),
    h(
      "p",
      { class: "muted" },
      "CSV with a header row, or NDJSON (one JSON object per line), with the API's field names. Rows are checked like the single mutations; rejected rows are listed with their line.",
    ),
    canOperate() ? form : h("p", { class: "muted" }, "Your role can read imports but not start one."),
    message,
    detail,
    list,
  );

  async function send(): Promise<void> {
    const chosen = file.files?.[0];
    if (!chosen) {
      message.textContent = "Choose a file first.";
      return;
    }
    const fmt = format.value || (/\.(ndjson|jsonl)$/i.test(chosen.name) ? "ndjson" : "csv");
    const query = new URLSearchParams({ format: fmt, fileName: chosen.name });
    if (kind.value !== "usage") query.set("mode", mode.value);
    if (atomic.checked) query.set("atomic", "true");
    submit.disabled = true;
    message.textContent = `Sending ${chosen.name}…`;
    try {
      // The streaming endpoint: files of any size, not only those under the GraphQL body limit.
      const response = await fetch(`/imports/${kind.value}?${query}`, {
        method: "POST",
        headers: { authorization: `Bearer ${getToken() ?? ""}` },
        body: chosen,
      });
      const body = (await response.json().catch(() => null)) as { importJob?: { id: string }; errors?: { message: string }[] } | null;
      if (!response.ok || !body?.importJob) throw new Error(body?.errors?.[0]?.message ?? `The server answered ${response.status}.`);
      message.textContent = "";
      announce(`${chosen.name} sent; importing.`);
      form.reset();
      modeField.hidden = false;
      history.replaceState(null, "", `/imports/${body.importJob.id}`);
      show(body.importJob.id);
      void loadList();
    } catch (error) {
      message.textContent = (error as Error).message;
      message.focus();
    } finally {
      submit.disabled = !canOperate();
    }
  }

  // --- one job: live progress, then its rejected rows -------------------------------------------
  const errorsPager = new Pager(ERRORS_PAGE);

  function show(id: string): void {
    stopProgress();
    errorsPager.reset();
    fill(detail, h("p", { class: "muted" }, "Loading…"));
    void loadJob(id).then((job) => {
      if (!job || disposed || FINISHED.has(job.status)) return;
      stopProgress = subscribe(
        DashboardImportProgressDocument,
        { id },
        {
          next: ({ importJobProgress: p }) => {
            updateProgress(p.progress, p.rowsTotal, p.rowsImported, p.rowsSkipped, p.rowsRejected, p.status);
            if (FINISHED.has(p.status)) {
              announce(`Import ${p.status === "COMPLETED" ? "completed" : "failed"}: ${p.rowsImported} imported, ${p.rowsRejected} rejected.`);
              void loadJob(id);
              void loadList();
            }
          },
          error: (error) => (message.textContent = error.message),
        },
      );
    });
  }

  const progressBar = h("progress", { id: "import-progress", max: 1, value: 0, "aria-labelledby": "import-progress-label" });
  const progressText = h("span", { id: "import-progress-label" });
  const counters = h("p", { class: "import-counters" });

  function updateProgress(progress: number, total: number, imported: number, skipped: number, rejected: number, status: string): void {
    progressBar.value = progress;
    progressText.textContent = `${status === "RUNNING" ? "Importing" : status === "QUEUED" ? "Waiting" : status.toLowerCase()}: ${percent(progress)} of the file read`;
    counters.textContent = `${total} rows read: ${imported} imported, ${skipped} already there, ${rejected} rejected`;
  }

  async function loadJob(id: string): Promise<DashboardImportJobFragment | null> {
    try {
      const { importJob: job } = await request(DashboardImportJobDocument, { id, first: ERRORS_PAGE, after: errorsPager.after });
      if (disposed) return null;
      if (!job) {
        fill(detail, h("p", { class: "error", role: "alert" }, "No such import."));
        return null;
      }
      const running = !FINISHED.has(job.status);
      updateProgress(job.progress, job.rowsTotal, job.rowsImported, job.rowsSkipped, job.rowsRejected, job.status);
      const errors = job.errors;
      fill(
        detail,
        h("h2", {}, `${kindLabel(job.kind)} from ${job.fileName ?? "a file"}`),
        h(
          "p",
          { class: "muted" },
          `${job.format}, ${job.mode}${job.atomic ? ", all or nothing" : ""} · sent `,
          formatDateTime(job.createdAt),
          job.createdBy ? ` by ${job.createdBy.email}` : "",
        ),
        h("p", {}, h("span", { class: `badge badge-${job.status.toLowerCase()}`, "data-status": job.status }, job.status)),
        running ? h("div", { class: "progress" }, progressText, progressBar) : null,
        counters,
        job.errorMessage ? h("p", { class: "error", role: "alert" }, job.errorMessage) : null,
        errors.totalCount === 0
          ? running
            ? null
            : h("p", { class: "empty" }, "No row was rejected.")
          : h(
              "div",
              {},
              h("h3", {}, `Rejected rows (${errors.totalCount})`),
              h(
                "div",
                { class: "table-wrap" },
                h(
                  "table",
                  { id: "import-errors" },
                  h("caption", { class: "visually-hidden" }, "Rejected rows"),
                  h(
                    "thead",
                    {},
                    h(
                      "tr",
                      {},
                      ["Line", "Column", "Code", "Reason"].map((label) => h("th", { scope: "col" }, label)),
                    ),
                  ),
                  h(
                    "tbody",
                    {},
                    errors.edges.map(({ node: e }) =>
                      h("tr", {}, h("th", { scope: "row" }, String(e.line)), h("td", {}, e.field ?? "—"), h("td", {}, e.code), h("td", {}, e.message)),
                    ),
                  ),
                ),
              ),
              pagerControls(
                "Rejected row",
                errorsPager,
                errors.totalCount,
                errors.pageInfo.hasNextPage,
                errors.pageInfo.endCursor ?? null,
                () => void loadJob(id),
              ),
            ),
      );
      return job;
    } catch (error) {
      if (!disposed) fill(detail, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
      return null;
    }
  }

  // --- recent imports ----------------------------------------------------------------------------
  async function loadList(): Promise<void> {
    try {
      const { importJobs } = await request(DashboardImportJobsDocument, { first: 10 });
      if (disposed) return;
      fill(
        list,
        h("h2", { id: "recent-imports" }, "Recent imports"),
        importJobs.totalCount === 0
          ? h("p", { class: "empty" }, "No imports yet.")
          : h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                {},
                h("caption", { class: "visually-hidden" }, "Recent imports"),
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ["File", "Kind", "Status", "Imported", "Rejected", "Sent"].map((label) => h("th", { scope: "col" }, label)),
                  ),
                ),
                h(
                  "tbody",
                  {},
                  importJobs.edges.map(({ node: j }) =>
                    h(
                      "tr",
                      { "data-id": j.id },
                      h("th", { scope: "row" }, h("a", { href: `/imports/${j.id}` }, j.fileName ?? j.id)),
                      h("td", {}, kindLabel(j.kind)),
                      h("td", {}, j.status),
                      h("td", {}, String(j.rowsImported)),
                      h("td", {}, String(j.rowsRejected)),
                      h("td", {}, formatDateTime(j.createdAt)),
                    ),
                  ),
                ),
              ),
            ),
      );
    } catch (error) {
      if (!disposed) fill(list, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  if (selectedId) show(selectedId);
  void loadList();
  return () => {
    disposed = true;
    stopProgress();
  };
}
