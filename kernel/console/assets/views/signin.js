// Sign-in with an API key. The key is checked by asking the hub who it
// belongs to (GET /v1/me); a wrong or revoked key shows the 401's own
// message. Nothing is stored until the hub has accepted the key.

import * as api from "../api.js";
import { h, replace, announce } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main, { onSignedIn }) {
  // Why the last session ended (a revoked key): shown until the next sign-in.
  const message = sessionStorage.getItem("order-hub.signin-message");
  const error = h("p", { class: "field-error", id: "signin-error", role: "alert", hidden: !message }, message ?? "");
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
    "aria-describedby": "api-key-hint signin-error",
  });
  const button = h("button", { type: "submit", class: "primary" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "signin card", novalidate: true },
    h("h1", {}, t("signin.title")),
    h("p", {}, t("signin.intro")),
    h("div", { class: "field" }, h("label", { for: "api-key" }, t("signin.key")), input, h("p", { class: "hint", id: "api-key-hint" }, t("signin.hint"))),
    error,
    button,
    h("details", { class: "demo-keys" }, h("summary", {}, t("signin.demo")), h("p", {}, t("signin.demo_text")), h("ul", {}, ["demo-customer-acme", "demo-customer-globex", "demo-reviewer", "demo-operator", "demo-admin"].map((k) => h("li", {}, h("code", {}, k))))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.hidden = false;
      error.textContent = t("signin.empty");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const me = await api.whoAmI(key);
      api.storeKey(key);
      sessionStorage.removeItem("order-hub.signin-message");
      await onSignedIn(me);
    } catch (failure) {
      error.hidden = false;
      error.textContent = failure.status === 401 ? `${t("signin.refused")} ${failure.message}` : failure.message;
      input.setAttribute("aria-invalid", "true");
      input.select();
      announce(error.textContent);
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  input.focus();
}
