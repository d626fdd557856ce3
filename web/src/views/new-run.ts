// New bill run form → createBillRun; a ValidationError is shown next to the field it names.
import { ApiError, asError, request } from "../api.ts";
import { h, fill } from "../dom.ts";
import { navigate } from "../router.ts";
import { canOperate, session, type Cleanup } from "../session.ts";
import {
  DashboardAccountSuggestionsDocument,
  DashboardCreateBillRunDocument,
  type ChargeType,
  type CreateBillRunInput,
} from "../../../src/generated/graphql/graphql.ts";

const CHARGE_TYPES: { value: ChargeType; label: string }[] = [
  { value: "ONE_TIME", label: "One-time" },
  { value: "RECURRING", label: "Recurring" },
  { value: "USAGE", label: "Usage" },
];

type Scope = "group" | "accounts" | "subscriptions";
type FieldName = "targetDate" | "invoiceDate" | "batches" | "billCycleDay" | "accountNumbers" | "subscriptionIds" | "chargeTypesToExclude";

function today(): string {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

/** "1, 2, 5-7" → [1, 2, 5, 6, 7]; null when something is not a whole number or range. */
function parseBatches(text: string): number[] | null {
  const result: number[] = [];
  for (const token of text.split(/[\s,]+/).filter(Boolean)) {
    const range = /^(\d+)-(\d+)$/.exec(token);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from || to - from > 50) return null;
      for (let b = from; b <= to; b++) result.push(b);
    } else if (/^\d+$/.test(token)) {
      result.push(Number(token));
    } else {
      return null;
    }
  }
  return result;
}

function parseIds(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

export function renderNewRun(main: HTMLElement): Cleanup {
  const errors = new Map<FieldName, HTMLElement>();
  const controls = new Map<FieldName, HTMLElement>();

  /** A labelled control with its hint and the place for its error. */
  function field(name: FieldName, label: string, control: HTMLElement, hint?: string): HTMLElement {
    const errorId = `error-${name}`;
    const hintId = hint ? `hint-${name}` : null;
    control.id = `field-${name}`;
    control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
    const error = h("p", { id: errorId, class: "field-error" });
    errors.set(name, error);
    controls.set(name, control);
    return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint ? h("p", { id: hintId!, class: "hint" }, hint) : null, error);
  }

  const targetDate = h("input", { type: "date", name: "targetDate", required: true, value: today() });
  const invoiceDate = h("input", { type: "date", name: "invoiceDate" });
  const batches = h("input", { type: "text", name: "batches", inputmode: "numeric", placeholder: "all", autocomplete: "off" });
  const billCycleDay = h("input", { type: "number", name: "billCycleDay", min: 1, max: 31, placeholder: "all" });
  const picker = accountPicker();
  const subscriptionIds = h("textarea", { name: "subscriptionIds", rows: 3, spellcheck: "false" });
  const chargeBoxes = CHARGE_TYPES.map((type) =>
    h("input", { type: "checkbox", name: "chargeTypesToExclude", value: type.value, id: `exclude-${type.value}` }),
  );
  const autoPost = h("input", { type: "checkbox", id: "auto-post", name: "autoPost" });
  const autoEmail = h("input", { type: "checkbox", id: "auto-email", name: "autoEmail" });
  const noZeroEmail = h("input", { type: "checkbox", id: "no-zero-email", name: "noEmailForZeroAmountInvoice", disabled: true });
  const scopeRadios = (["group", "accounts", "subscriptions"] as Scope[]).map((scope) =>
    h("input", { type: "radio", name: "scope", value: scope, id: `scope-${scope}`, checked: scope === "group" }),
  );
  const summary = h("div", { class: "form-errors", role: "alert", tabindex: "-1" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create bill run");

  const groupBox = h(
    "div",
    { class: "scope-fields", id: "scope-group-fields" },
    field("batches", "Batches", batches, "Account batches 1–50, e.g. 1, 2, 5-7. Empty: every batch."),
    field("billCycleDay", "Bill cycle day", billCycleDay, "1–31. Empty: every bill cycle day."),
  );
  const accountsBox = h(
    "div",
    { class: "scope-fields", id: "scope-accounts-fields", hidden: true },
    field("accountNumbers", "Accounts", picker.input, "Type part of a number, name or email and pick from the suggestions (Enter adds what you typed)."),
    picker.chosen,
  );
  const subscriptionsBox = h(
    "div",
    { class: "scope-fields", id: "scope-subscriptions-fields", hidden: true },
    field("subscriptionIds", "Subscription ids", subscriptionIds, "One per line (or separated by commas)."),
  );

  const chargeFieldset = h(
    "fieldset",
    { "aria-describedby": "hint-chargeTypesToExclude error-chargeTypesToExclude" },
    h("legend", {}, "Excluded charge types"),
    h("p", { id: "hint-chargeTypesToExclude", class: "hint" }, "At most two; they are left for a later run."),
    CHARGE_TYPES.map((type, i) => h("div", { class: "check" }, chargeBoxes[i]!, h("label", { for: `exclude-${type.value}` }, type.label))),
  );
  const chargeError = h("p", { id: "error-chargeTypesToExclude", class: "field-error" });
  errors.set("chargeTypesToExclude", chargeError);
  controls.set("chargeTypesToExclude", chargeBoxes[0]!);

  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "new-run-title", onsubmit: (e: SubmitEvent) => void onSubmit(e) },
    h("h1", { id: "new-run-title" }, "New bill run"),
    canOperate() ? null : h("p", { class: "warning" }, `Your role (${session.me?.role ?? "unknown"}) cannot create bill runs; the server will refuse.`),
    summary,
    h(
      "div",
      { class: "grid-2" },
      field("targetDate", "Target date", targetDate, "Bill what is due up to this date."),
      field("invoiceDate", "Invoice date", invoiceDate, "Empty: the target date."),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Accounts"),
      h(
        "div",
        { class: "radios" },
        h("div", { class: "check" }, scopeRadios[0]!, h("label", { for: "scope-group" }, "By batch and bill cycle day")),
        h("div", { class: "check" }, scopeRadios[1]!, h("label", { for: "scope-accounts" }, "Specific accounts")),
        h("div", { class: "check" }, scopeRadios[2]!, h("label", { for: "scope-subscriptions" }, "Specific subscriptions")),
      ),
      groupBox,
      accountsBox,
      subscriptionsBox,
    ),
    chargeFieldset,
    chargeError,
    h(
      "fieldset",
      {},
      h("legend", {}, "Options"),
      h("div", { class: "check" }, autoPost, h("label", { for: "auto-post" }, "Post automatically when the run completes")),
      h("div", { class: "check" }, autoEmail, h("label", { for: "auto-email" }, "Email posted invoices to their accounts")),
      h("div", { class: "check indent" }, noZeroEmail, h("label", { for: "no-zero-email" }, "Except zero-amount invoices")),
    ),
    h("div", { class: "form-actions" }, submit, h("a", { href: "/bill-runs", class: "button" }, "Back to bill runs")),
  );
  fill(main, form);

  function scope(): Scope {
    return (scopeRadios.find((r) => r.checked)?.value ?? "group") as Scope;
  }
  for (const radio of scopeRadios) {
    radio.addEventListener("change", () => {
      groupBox.hidden = scope() !== "group";
      accountsBox.hidden = scope() !== "accounts";
      subscriptionsBox.hidden = scope() !== "subscriptions";
    });
  }
  // At most two excluded charge types: the third box is disabled once two are checked.
  const limitCharges = () => {
    const checked = chargeBoxes.filter((b) => b.checked).length;
    for (const box of chargeBoxes) box.disabled = !box.checked && checked >= 2;
  };
  for (const box of chargeBoxes) box.addEventListener("change", limitCharges);
  autoEmail.addEventListener("change", () => {
    noZeroEmail.disabled = !autoEmail.checked;
    if (!autoEmail.checked) noZeroEmail.checked = false;
  });

  function clearErrors(): void {
    fill(summary);
    for (const [name, error] of errors) {
      error.textContent = "";
      controls.get(name)!.removeAttribute("aria-invalid");
    }
  }

  function showError(name: FieldName | null, message: string): void {
    fill(summary, h("p", {}, `The bill run was not created: ${message}`));
    if (name && errors.has(name)) {
      errors.get(name)!.textContent = message;
      const control = controls.get(name)!;
      control.setAttribute("aria-invalid", "true");
      control.focus();
    } else {
      summary.focus();
    }
  }

  async function onSubmit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    clearErrors();
    const input: CreateBillRunInput = { targetDate: targetDate.value };
    if (!targetDate.value) return showError("targetDate", "a target date is required");
    if (invoiceDate.value) input.invoiceDate = invoiceDate.value;
    if (scope() === "group") {
      const list = parseBatches(batches.value);
      if (list === null) return showError("batches", "batches are whole numbers or ranges, e.g. 1, 2, 5-7");
      if (list.length > 0) input.batches = list;
      if (billCycleDay.value) input.billCycleDay = Number(billCycleDay.value);
    } else if (scope() === "accounts") {
      const numbers = picker.numbers();
      if (numbers.length === 0) return showError("accountNumbers", "choose at least one account");
      input.accountNumbers = numbers;
    } else {
      const ids = parseIds(subscriptionIds.value);
      if (ids.length === 0) return showError("subscriptionIds", "give at least one subscription id");
      input.subscriptionIds = ids;
    }
    const excluded = chargeBoxes.filter((b) => b.checked).map((b) => b.value as ChargeType);
    if (excluded.length > 0) input.chargeTypesToExclude = excluded;
    input.autoPost = autoPost.checked;
    input.autoEmail = autoEmail.checked;
    input.noEmailForZeroAmountInvoice = noZeroEmail.checked;

    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const { createBillRun: result } = await request(DashboardCreateBillRunDocument, { input });
      const refused = asError(result);
      if (refused) {
        // field is e.g. ["input", "accountNumbers"]: the control is the part after "input".
        const name = (refused.field?.[0] === "input" ? refused.field[1] : refused.field?.[0]) as FieldName | undefined;
        return showError(name && errors.has(name) ? name : null, refused.message);
      }
      if (result.__typename !== "BillRun") return;
      session.notice = `Bill run ${result.billRunNumber} created.`;
      navigate("/bill-runs");
    } catch (error) {
      showError(null, (error as ApiError).message);
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  }

  return () => {};
}

/**
 * Accounts chosen by number or name: the text box suggests matching accounts as one types
 * (`accounts(search:)`, a native datalist, so keyboard and screen readers work as usual); picking
 * one, or pressing Enter, adds it to the list below, where each can be removed.
 */
function accountPicker() {
  const input = h("input", { type: "search", name: "accountSearch", list: "account-options", autocomplete: "off", placeholder: "A-00000042, Acme…" });
  const options = h("datalist", { id: "account-options" });
  const list = h("ul", { class: "chips plain", "aria-label": "Chosen accounts" });
  const chosen = h("div", { class: "chosen" }, options, list);
  const picked = new Map<string, string>(); // number → label
  let suggestions: { accountNumber: string; name: string }[] = [];
  const label = (a: { accountNumber: string; name: string }) => `${a.accountNumber} · ${a.name}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;

  function render(): void {
    fill(
      list,
      [...picked].map(([number, text]) =>
        h(
          "li",
          { "data-account": number },
          text,
          " ",
          h(
            "button",
            { type: "button", class: "link-button", "aria-label": `Remove ${number}`, onclick: () => (picked.delete(number), render(), input.focus()) },
            "×",
          ),
        ),
      ),
    );
  }
  function add(text: string): boolean {
    const value = text.trim();
    if (!value) return false;
    const known = suggestions.find((a) => label(a) === value || a.accountNumber.toLowerCase() === value.toLowerCase());
    // Unknown text is kept as a number: the API says if no account has it.
    picked.set(known ? known.accountNumber : value, known ? label(known) : value);
    input.value = "";
    render();
    return true;
  }
  input.addEventListener("input", (event) => {
    // Choosing a suggestion sets the whole label at once.
    if ((event as InputEvent).inputType === "insertReplacementText" || suggestions.some((a) => label(a) === input.value)) {
      add(input.value);
      return;
    }
    clearTimeout(timer);
    const term = input.value.trim();
    if (term.length < 2) return;
    timer = setTimeout(async () => {
      const mine = ++generation;
      const found = (await request(DashboardAccountSuggestionsDocument, { search: term, first: 10 })).accounts.edges.map((e) => e.node);
      if (mine !== generation) return;
      suggestions = [...suggestions.filter((s) => picked.has(s.accountNumber)), ...found];
      fill(
        options,
        found.map((a) => h("option", { value: label(a) })),
      );
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && input.value.trim()) {
      event.preventDefault();
      add(input.value);
    }
  });
  return {
    input,
    chosen,
    numbers: (): string[] => {
      if (input.value.trim()) add(input.value);
      return [...picked.keys()];
    },
  };
}
