// The customer's pages: pick a business line, fill in its form (checked by
// the hub as you type), submit; the list of my orders; my notification
// subscriptions (webhooks).

import * as api from "../api.js";
import { h, replace, announce, randomKey, when } from "../dom.js";
import { t, schemaText } from "../i18n.js";
import { SchemaForm } from "../form.js";
import { statusBadge, notice, problemList, pagedTable, businessLines, schemaOf, lineTitle, lineSelect } from "../ui.js";

const STATUSES = ["needs-review", "queued", "submitted", "accepted", "rejected", "in-progress", "completed", "cancelled", "failed"];

export async function chooseLine(main) {
  const lines = await businessLines();
  const cards = [];
  for (const entry of lines) {
    const schema = await schemaOf(entry.line);
    cards.push(
      h(
        "li",
        { class: "card line-card" },
        h("h2", {}, h("a", { href: `#/new/${encodeURIComponent(entry.line)}` }, schemaText(schema, "title") || entry.line)),
        h("p", {}, schemaText(schema, "description")),
      ),
    );
  }
  replace(main, h("h1", {}, t("new.title")), h("p", {}, t("new.intro")), h("ul", { class: "cards" }, cards));
}

/** The order form of one business line. */
export async function newOrder(main, { args: [line] }) {
  const schema = await schemaOf(line);
  const idempotencyKey = randomKey("console");
  const touched = new Set();
  let showAll = false;
  let verdict = null;
  let checkSeq = 0;
  let timer = null;

  const summary = h("div", { class: "verdict", "aria-live": "polite" }, h("p", { class: "hint" }, t("new.start")));
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, t("new.submit"));

  const form = new SchemaForm(schema, {
    onChange: (pointer) => {
      touched.add(pointer);
      clearTimeout(timer);
      timer = setTimeout(check, 600);
    },
    onBlur: (pointer) => {
      touched.add(pointer);
      clearTimeout(timer);
      check();
    },
  });

  async function check() {
    const seq = ++checkSeq;
    const order = form.value();
    try {
      const answer = await api.post(`/v1/validate/${encodeURIComponent(line)}`, order);
      if (seq !== checkSeq) return; // a newer check is on its way
      verdict = answer;
      render();
    } catch (error) {
      if (seq === checkSeq) notice(message, error.message, "error");
    }
  }

  function render() {
    if (!verdict) return;
    const shown = form.showVerdict(verdict, showAll ? null : touched);
    const blocking = shown.filter((p) => !p.reviewable);
    const reviewable = shown.filter((p) => p.reviewable);
    const outcome = verdict.outcome;
    let headline;
    if (outcome === "valid") headline = h("p", { class: "outcome outcome-valid" }, t("new.valid"));
    else if (blocking.length) headline = h("p", { class: "outcome outcome-invalid" }, t("new.invalid", { n: blocking.length }));
    else if (outcome === "invalid") headline = h("p", { class: "outcome outcome-pending" }, t("new.incomplete"));
    else headline = h("p", { class: "outcome outcome-review" }, t("new.review", { n: reviewable.length }));
    replace(summary, headline, shown.length ? problemList(shown, (pointer) => form.focus(pointer)) : null);
  }

  const formElement = h(
    "form",
    { class: "order-form", novalidate: true, "aria-labelledby": "form-title" },
    form.element,
    h("div", { class: "form-actions" }, submit, message),
  );

  formElement.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    showAll = true;
    submit.disabled = true;
    notice(message, t("new.sending"));
    try {
      // Same key for every try of this form: a double click or a retry after
      // a lost answer gives the same order, never two.
      const accepted = await api.post(`/v1/orders/${encodeURIComponent(line)}`, form.value(), {
        headers: { "Idempotency-Key": idempotencyKey },
      });
      announce(t("new.accepted"));
      location.hash = `#/orders/${encodeURIComponent(accepted.order_id)}`;
    } catch (error) {
      if (error.status === 422) {
        verdict = { outcome: "invalid", problems: error.problems, normalized: verdict?.normalized };
        render();
        notice(message, t("new.refused", { n: error.problems.length }), "error");
        const first = error.problems.find((p) => !p.reviewable) ?? error.problems[0];
        if (first) form.focus(first.pointer);
      } else {
        notice(message, error.message, "error");
      }
      submit.disabled = false;
    }
  });

  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/new" }, t("new.title"))),
    h("h1", { id: "form-title" }, schemaText(schema, "title") || line),
    h("p", { class: "lead" }, schemaText(schema, "description")),
    h("p", { class: "hint" }, t("new.how")),
    h("div", { class: "form-layout" }, formElement, h("aside", { class: "verdict-panel", "aria-label": t("new.check") }, h("h2", {}, t("new.check")), summary)),
  );
  return () => clearTimeout(timer);
}

/** My orders (customers) or every tenant's orders (staff), with filters and cursor paging. */
export async function orders(main, { params }, me) {
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, t("common.all")), STATUSES.map((s) => h("option", { value: s }, t(`status.${s}`))));
  const line = await lineSelect({ id: "filter-line" }, t("common.all"));
  const reference = h("input", { id: "filter-reference", type: "search", autocomplete: "off" });
  const tenant = me.role === "customer" ? null : h("input", { id: "filter-tenant", type: "search", autocomplete: "off" });
  status.value = params.get("status") ?? "";
  line.value = params.get("line") ?? "";
  const columns = [t("orders.created"), t("orders.line"), t("orders.reference"), t("orders.status")];
  if (tenant) columns.push(t("orders.tenant"));
  const titles = new Map();
  const table = pagedTable({
    columns,
    empty: t("orders.none"),
    load: async (cursor) => {
      const answer = await api.get("/v1/orders", {
        query: { status: status.value, line: line.value, reference: reference.value.trim(), tenant: tenant?.value.trim(), limit: 20, cursor },
      });
      for (const o of answer.orders) if (!titles.has(o.line)) titles.set(o.line, await lineTitle(o.line));
      return { items: answer.orders, next: answer.next_cursor };
    },
    row: (o) =>
      h(
        "tr",
        { dataset: { orderId: o.id } },
        h("td", {}, h("a", { href: `#/orders/${encodeURIComponent(o.id)}` }, when(o.created_at))),
        h("td", {}, titles.get(o.line) ?? o.line),
        h("td", {}, o.customer_reference ?? "—"),
        h("td", {}, statusBadge(o.status)),
        tenant ? h("td", {}, o.tenant ?? "") : null,
      ),
  });
  const filters = h(
    "form",
    { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "filter-status" }, t("orders.status")), status),
    h("div", { class: "field" }, h("label", { for: "filter-line" }, t("orders.line")), line),
    h("div", { class: "field" }, h("label", { for: "filter-reference" }, t("orders.reference")), reference),
    tenant ? h("div", { class: "field" }, h("label", { for: "filter-tenant" }, t("orders.tenant")), tenant) : null,
    h("button", { type: "submit", class: "secondary" }, t("common.apply")),
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    table.reload();
  });
  status.addEventListener("change", () => table.reload());
  line.addEventListener("change", () => table.reload());
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, me.role === "customer" ? t("nav.my_orders") : t("nav.orders")), me.may.submit ? h("a", { class: "button primary", href: "#/new" }, t("nav.new_order")) : null),
    filters,
    table.element,
  );
  await table.reload();
}

/** Webhook subscriptions: list, create (the secret is shown once), delete. */
export async function subscriptions(main, _route, me) {
  const message = h("div");
  const secretSlot = h("div");
  const list = h("tbody");

  async function reload() {
    const answer = await api.get("/v1/subscriptions");
    list.replaceChildren();
    for (const s of answer.subscriptions) {
      const remove = h("button", { type: "button", class: "link danger", "aria-label": t("subs.delete_one", { url: s.url }) }, t("subs.delete"));
      remove.addEventListener("click", async () => {
        if (!confirm(t("subs.confirm_delete", { url: s.url }))) return;
        try {
          await api.del(`/v1/subscriptions/${encodeURIComponent(s.id)}`);
          notice(message, t("subs.deleted"));
          await reload();
        } catch (error) {
          notice(message, error.message, "error");
        }
      });
      list.append(
        h(
          "tr",
          { dataset: { subscriptionId: s.id } },
          h("td", {}, h("code", {}, s.url)),
          h("td", {}, (s.events ?? []).join(", ")),
          h("td", {}, s.state),
          me.role === "customer" ? null : h("td", {}, s.tenant ?? ""),
          h("td", {}, when(s.created_at)),
          h("td", {}, remove),
        ),
      );
    }
    if (!answer.subscriptions.length) list.append(h("tr", {}, h("td", { colspan: 6 }, t("subs.none"))));
  }

  const url = h("input", { id: "sub-url", type: "url", required: true, placeholder: "https://portal.example.com/hooks/order-hub", "aria-describedby": "sub-url-error" });
  const urlError = h("p", { class: "field-error", id: "sub-url-error", hidden: true });
  const events = h("input", { id: "sub-events", type: "text", value: "accepted, rejected, in-progress, completed", "aria-describedby": "sub-events-hint" });
  const description = h("input", { id: "sub-description", type: "text" });
  const tenant = me.role === "customer" ? null : h("input", { id: "sub-tenant", type: "text", required: true });
  const create = h(
    "form",
    { class: "card", novalidate: true },
    h("h2", {}, t("subs.new")),
    h("div", { class: "field" }, h("label", { for: "sub-url" }, t("subs.url")), url, urlError),
    h("div", { class: "field" }, h("label", { for: "sub-events" }, t("subs.events")), events, h("p", { class: "hint", id: "sub-events-hint" }, t("subs.events_hint"))),
    h("div", { class: "field" }, h("label", { for: "sub-description" }, t("subs.description")), description),
    tenant ? h("div", { class: "field" }, h("label", { for: "sub-tenant" }, t("orders.tenant")), tenant) : null,
    h("button", { type: "submit", class: "primary" }, t("subs.create")),
  );
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    urlError.hidden = true;
    url.removeAttribute("aria-invalid");
    const body = {
      url: url.value.trim(),
      events: events.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (description.value.trim()) body.description = description.value.trim();
    if (tenant) body.tenant = tenant.value.trim();
    try {
      const created = await api.post("/v1/subscriptions", body);
      replace(
        secretSlot,
        h(
          "div",
          { class: "notice notice-success", role: "status" },
          h("p", {}, t("subs.secret_once")),
          h("p", {}, h("code", { class: "secret" }, created.secret)),
        ),
      );
      url.value = "";
      await reload();
    } catch (error) {
      urlError.hidden = false;
      urlError.textContent = error.message;
      url.setAttribute("aria-invalid", "true");
      url.focus();
    }
  });

  replace(
    main,
    h("h1", {}, t("nav.subscriptions")),
    h("p", { class: "lead" }, t("subs.intro")),
    message,
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [t("subs.url"), t("subs.events"), t("subs.state"), me.role === "customer" ? null : t("orders.tenant"), t("orders.created"), ""]
            .filter((c) => c !== null)
            .map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      list,
    ),
    secretSlot,
    create,
  );
  await reload();
}
