import { h, fill } from "../dom.ts";
import type { Cleanup } from "../session.ts";

/** The token is pasted once and kept in this browser's local storage. */
export function renderSignIn(main: HTMLElement, message: string | undefined, onToken: (token: string) => Promise<void>): Cleanup {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help",
    class: "wide",
  });
  const error = h("p", { id: "token-error", class: "error", role: "alert" }, message ?? "");
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: (event: SubmitEvent) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) {
          error.textContent = "Paste a token first.";
          input.focus();
          return;
        }
        void onToken(token);
      },
    },
    h("h1", {}, "Sign in"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "token" }, "API token"),
      input,
      h(
        "p",
        { id: "token-help", class: "hint" },
        "Paste your Billrun API token. npm start prints the admin token at first start and saves it in .data/admin-token. ",
        "It is kept in this browser's local storage until you sign out.",
      ),
    ),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  fill(main, form);
  input.focus();
  return () => {};
}
