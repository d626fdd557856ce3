// Webhooks: the endpoints, each one's recent deliveries, send a test, redeliver, disable/enable,
// and a form to add an endpoint (its secret is shown once). ADMINs manage; OPERATORs read.
import { ApiError, asError, request } from "../api.ts";
import { h, fill, formatDateTime, type Child } from "../dom.ts";
import { announce, session, type Cleanup } from "../session.ts";
import {
  DashboardCreateWebhookEndpointDocument,
  DashboardDisableWebhookEndpointDocument,
  DashboardEnableWebhookEndpointDocument,
  DashboardRedeliverWebhookDocument,
  DashboardSendTestWebhookDocument,
  DashboardWebhookDeliveriesDocument,
  DashboardWebhookEndpointsDocument,
  type DashboardWebhookDeliveryRowFragment,
  type DashboardWebhookEndpointRowFragment,
} from "../../../src/generated/graphql/graphql.ts";

const RECENT = 20;

const isAdmin = () => session.me?.role === "ADMIN";

function deliveryBadge(status: string): HTMLElement {
  const css = status === "SUCCEEDED" ? "badge-completed" : status === "FAILED" ? "badge-error" : "badge-processing";
  const label = status === "SUCCEEDED" ? "Delivered" : status === "FAILED" ? "Failed" : "Pending";
  return h("span", { class: `badge ${css}`, "data-status": status }, label);
}

function endpointBadge(e: DashboardWebhookEndpointRowFragment): HTMLElement {
  if (e.status === "DISABLED") return h("span", { class: "badge badge-canceled", "data-status": e.status, title: e.disabledReason ?? "" }, "Disabled");
  if (e.failingSince) return h("span", { class: "badge badge-error", "data-status": e.status }, "Failing");
  return h("span", { class: "badge badge-schedule-active", "data-status": e.status }, "Enabled");
}

export function renderWebhooks(main: HTMLElement): Cleanup {
  let disposed = false;
  let selected: string | null = null;
  let eventTypes: string[] = [];
  const message = h("p", { class: "action-message", role: "alert", tabindex: "-1" });
  const endpoints = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const detail = h("section", { "aria-label": "Recent deliveries", id: "webhook-deliveries" });
  const form = h("div", {});
  fill(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Webhooks")),
    h(
      "p",
      { class: "muted" },
      "Signed HTTP callbacks (Standard Webhooks) for runs and posted documents. See the README for payloads and how to verify a signature.",
    ),
    message,
    endpoints,
    detail,
    form,
  );

  function say(text: string, error = false): void {
    message.className = error ? "action-message error" : "action-message";
    message.textContent = text;
  }

  async function load(): Promise<void> {
    try {
      const data = await request(DashboardWebhookEndpointsDocument, {});
      if (disposed) return;
      eventTypes = data.webhookEventTypes;
      const connection = data.webhookEndpoints;
      if (connection.totalCount === 0) fill(endpoints, h("p", { class: "empty" }, "No webhook endpoints yet."));
      else {
        fill(
          endpoints,
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { id: "webhook-endpoints" },
              h("caption", { class: "visually-hidden" }, "Webhook endpoints"),
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["URL", "Description", "Events", "Status", "Actions"].map((label) => h("th", { scope: "col" }, label)),
                ),
              ),
              h(
                "tbody",
                {},
                connection.edges.map(({ node }) => endpointRow(node)),
              ),
            ),
          ),
        );
      }
      if (isAdmin() && !form.hasChildNodes()) fill(form, createForm());
      if (selected) await loadDeliveries(selected);
    } catch (error) {
      if (!disposed) fill(endpoints, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  function endpointRow(e: DashboardWebhookEndpointRowFragment): HTMLTableRowElement {
    const actions: Child[] = [h("button", { type: "button", "aria-label": `Deliveries of ${e.url}`, onclick: () => void showDeliveries(e.id) }, "Deliveries")];
    if (isAdmin()) {
      actions.push(
        h(
          "button",
          { type: "button", disabled: e.status !== "ENABLED", "aria-label": `Send a test to ${e.url}`, onclick: () => void sendTest(e) },
          "Send test",
        ),
        e.status === "ENABLED"
          ? h("button", { type: "button", "aria-label": `Disable ${e.url}`, onclick: () => void toggle(e, "disable") }, "Disable")
          : h("button", { type: "button", "aria-label": `Enable ${e.url}`, onclick: () => void toggle(e, "enable") }, "Enable"),
      );
    }
    return h(
      "tr",
      { "data-id": e.id },
      h("th", { scope: "row" }, h("code", {}, e.url)),
      h("td", {}, e.description || "—"),
      h("td", {}, e.eventTypes.join(", ")),
      h("td", {}, endpointBadge(e), e.status === "DISABLED" && e.disabledReason ? h("div", { class: "muted" }, e.disabledReason) : null),
      h("td", {}, h("div", { class: "form-actions" }, actions)),
    );
  }

  async function showDeliveries(endpointId: string): Promise<void> {
    selected = endpointId;
    await loadDeliveries(endpointId);
    detail.querySelector<HTMLElement>("h2")?.focus();
  }

  async function loadDeliveries(endpointId: string): Promise<void> {
    try {
      const { webhookEndpoint } = await request(DashboardWebhookDeliveriesDocument, { id: endpointId, first: RECENT });
      if (disposed) return;
      if (!webhookEndpoint) return fill(detail);
      const rows = webhookEndpoint.deliveries.edges.map(({ node }) => deliveryRow(node));
      fill(
        detail,
        h("h2", { tabindex: "-1" }, `Recent deliveries (${webhookEndpoint.deliveries.totalCount})`),
        rows.length === 0
          ? h("p", { class: "empty" }, "Nothing delivered yet.")
          : h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                { id: "webhook-delivery-list" },
                h("caption", { class: "visually-hidden" }, "Recent deliveries, newest first"),
                h(
                  "thead",
                  {},
                  h(
                    "tr",
                    {},
                    ["Queued", "Event", "webhook-id", "Status", "Attempts", "Last answer", "Next attempt", "Actions"].map((l) => h("th", { scope: "col" }, l)),
                  ),
                ),
                h("tbody", {}, rows),
              ),
            ),
      );
    } catch (error) {
      if (!disposed) fill(detail, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  function deliveryRow(d: DashboardWebhookDeliveryRowFragment): HTMLTableRowElement {
    const answer = d.lastError ?? (d.lastHttpStatus ? `HTTP ${d.lastHttpStatus}` : "—");
    return h(
      "tr",
      { "data-id": d.id },
      h("td", {}, formatDateTime(d.createdAt)),
      h("th", { scope: "row" }, d.eventType),
      h("td", {}, h("code", {}, d.webhookId)),
      h("td", {}, deliveryBadge(d.status)),
      h("td", {}, String(d.attemptCount)),
      h("td", {}, answer),
      h("td", {}, d.nextAttemptAt ? formatDateTime(d.nextAttemptAt) : "—"),
      h(
        "td",
        {},
        isAdmin()
          ? h("button", { type: "button", "aria-label": `Redeliver ${d.eventType} ${d.webhookId}`, onclick: () => void redeliver(d) }, "Redeliver")
          : "—",
      ),
    );
  }

  async function sendTest(e: DashboardWebhookEndpointRowFragment): Promise<void> {
    say("");
    try {
      const result = (await request(DashboardSendTestWebhookDocument, { id: e.id })).sendTestWebhook;
      const refused = asError(result);
      if (refused) return say(`Test refused: ${refused.message}`, true);
      say(`Test event queued for ${e.url}.`);
      announce("Test event queued.");
      await showDeliveries(e.id);
    } catch (error) {
      say((error as ApiError).message, true);
    }
  }

  async function redeliver(d: DashboardWebhookDeliveryRowFragment): Promise<void> {
    say("");
    try {
      const result = (await request(DashboardRedeliverWebhookDocument, { id: d.id })).redeliverWebhook;
      const refused = asError(result);
      if (refused) return say(`Redelivery refused: ${refused.message}`, true);
      say(`Event ${d.webhookId} queued again.`);
      if (selected) await loadDeliveries(selected);
    } catch (error) {
      say((error as ApiError).message, true);
    }
  }

  async function toggle(e: DashboardWebhookEndpointRowFragment, action: "disable" | "enable"): Promise<void> {
    say("");
    try {
      const result =
        action === "disable"
          ? (await request(DashboardDisableWebhookEndpointDocument, { id: e.id })).disableWebhookEndpoint
          : (await request(DashboardEnableWebhookEndpointDocument, { id: e.id })).enableWebhookEndpoint;
      const refused = asError(result);
      if (refused) return say(refused.message, true);
      announce(action === "disable" ? "Endpoint disabled." : "Endpoint enabled.");
      await load();
    } catch (error) {
      say((error as ApiError).message, true);
    }
  }

  function createForm(): HTMLElement {
    const errors = h("div", { class: "form-errors", role: "alert" });
    const url = h("input", { id: "webhook-url", type: "url", class: "wide", required: true, placeholder: "https://example.com/billrun" });
    const description = h("input", { id: "webhook-description", type: "text", class: "wide", maxlength: "500" });
    const boxes = eventTypes.map((type) => h("input", { type: "checkbox", value: type, name: "eventTypes" }));
    const secret = h("div", {});
    const submit = async (event: Event) => {
      event.preventDefault();
      errors.replaceChildren();
      secret.replaceChildren();
      try {
        const input = { url: url.value, description: description.value, eventTypes: boxes.filter((b) => b.checked).map((b) => b.value) };
        const result = (await request(DashboardCreateWebhookEndpointDocument, { input })).createWebhookEndpoint;
        const refused = asError(result);
        if (refused) return void errors.append(h("p", {}, refused.message));
        if (result.__typename !== "WebhookEndpointSecretPayload") return;
        fill(secret, h("div", { class: "notice", id: "webhook-secret" }, "Signing secret (shown once, copy it now): ", h("code", {}, result.secret)));
        url.value = "";
        description.value = "";
        for (const b of boxes) b.checked = false;
        announce("Endpoint created.");
        await load();
      } catch (error) {
        errors.append(h("p", {}, (error as ApiError).message));
      }
    };
    return h(
      "form",
      { class: "form", onsubmit: (e: Event) => void submit(e) },
      h("h2", {}, "Add an endpoint"),
      errors,
      h("div", { class: "field" }, h("label", { for: "webhook-url" }, "URL"), url),
      h("div", { class: "field" }, h("label", { for: "webhook-description" }, "Description"), description),
      h(
        "fieldset",
        {},
        h("legend", {}, "Events"),
        eventTypes.map((type, i) => h("label", { class: "check" }, boxes[i]!, type)),
      ),
      h("div", { class: "form-actions" }, h("button", { type: "submit" }, "Add endpoint")),
      secret,
    );
  }

  void load();
  return () => {
    disposed = true;
  };
}
