// An order's page: its status, what the hub made of the submission, and the
// timeline — followed live over the order's server-sent event stream, so
// the page moves when the OPS answers or a reviewer releases it, without a
// reload. Finance events (charges, invoices, payments) are listed apart:
// they never change the status.

import * as api from "../api.js";
import { h, replace, when, announce } from "../dom.js";
import { t, schemaText, eventText } from "../i18n.js";
import { statusBadge, timelineItem, FINANCE_KINDS, schemaOf, problemList } from "../ui.js";
import { resolveSchema } from "../form.js";

export async function page(main, { args: [id] }, me) {
  const order = await api.get(`/v1/orders/${encodeURIComponent(id)}`);
  const staff = me.role !== "customer";
  let schema = null;
  try {
    schema = await schemaOf(order.line, order.schema_version);
  } catch {
    // the order still shows, with field names instead of titles
  }

  const statusSlot = h("span", { id: "order-status" }, statusBadge(order.status));
  const live = h("span", { class: "live", id: "live-state", role: "status" }, t("order.connecting"));
  const progress = h("ol", { class: "timeline", id: "timeline", "aria-label": t("order.progress") });
  const finance = h("ol", { class: "timeline finance", id: "finance", "aria-label": t("order.finance") });
  const financeBox = h("section", { class: "card", hidden: true }, h("h2", {}, t("order.finance")), finance);
  let lastSeq = 0;

  function add(event) {
    lastSeq = Math.max(lastSeq, event.seq ?? 0);
    const item = timelineItem(event, { staff });
    if (FINANCE_KINDS.has(event.kind)) {
      finance.append(item);
      financeBox.hidden = false;
    } else {
      progress.append(item);
    }
  }
  order.timeline.forEach(add);

  // The stream carries events; the status is read back after each burst,
  // and once each time the stream is (re)connected: the order and its
  // timeline were read apart, so a change between the two reads shows up
  // in neither the status shown nor the stream.
  let statusTimer = null;
  const refreshStatus = () => {
    clearTimeout(statusTimer);
    statusTimer = setTimeout(async () => {
      try {
        const now = await api.get(`/v1/orders/${encodeURIComponent(order.id)}/timeline`, { query: { after: lastSeq } });
        replace(statusSlot, statusBadge(now.status));
      } catch {
        // the next event or reconnection tries again
      }
    }, 150);
  };
  const stop = api.followTimeline(order.id, lastSeq, {
    onEvent: (event) => {
      add(event);
      announce(`${eventText(event.kind)}: ${event.message ?? ""}`);
      refreshStatus();
    },
    onState: (state) => {
      live.textContent = t(`order.${state}`);
      live.dataset.state = state;
      if (state === "live") refreshStatus();
    },
  });

  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, t("orders.line")),
    h("dd", {}, (schema && schemaText(schema, "title")) || order.line),
    h("dt", {}, t("orders.reference")),
    h("dd", {}, order.customer_reference ?? "—"),
    h("dt", {}, t("orders.created")),
    h("dd", {}, when(order.created_at)),
    h("dt", {}, t("order.id")),
    h("dd", {}, h("code", {}, order.id)),
  );

  const open = (order.problems ?? []).length && order.status === "needs-review";
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/orders" }, me.role === "customer" ? t("nav.my_orders") : t("nav.orders"))),
    h("div", { class: "page-head" }, h("h1", {}, order.customer_reference ? t("order.title_ref", { ref: order.customer_reference }) : t("order.title")), statusSlot),
    facts,
    open
      ? h("section", { class: "card notice-review" }, h("h2", {}, t("order.in_review")), h("p", {}, t("order.in_review_text")), problemList(order.problems))
      : null,
    staff && order.status === "needs-review" && me.may.review ? h("p", {}, h("a", { class: "button primary", href: `#/review/${encodeURIComponent(order.id)}` }, t("review.open_desk"))) : null,
    h("div", { class: "order-layout" },
      h("section", { class: "card" }, h("div", { class: "section-head" }, h("h2", {}, t("order.progress")), live), progress),
      h("section", { class: "card" }, h("h2", {}, t("order.contents")), renderValue(order.normalized ?? order.submission, schema, schema)),
    ),
    financeBox,
  );
  return () => {
    stop();
    clearTimeout(statusTimer);
  };
}

/** The normalized order as nested definition lists, labelled with the schema's titles. */
export function renderValue(value, node, root) {
  node = resolveSchema(root, node);
  if (Array.isArray(value)) {
    return h("ol", { class: "value-list" }, value.map((item) => h("li", {}, renderValue(item, node?.items, root))));
  }
  if (value && typeof value === "object") {
    // The schema's order first (the order of the form), then anything else.
    const known = Object.keys(node?.properties ?? {}).filter((key) => key in value);
    const keys = [...known, ...Object.keys(value).filter((key) => !known.includes(key))];
    return h(
      "dl",
      { class: "value-map" },
      keys.map((key) => [key, value[key]]).map(([key, inner]) => {
        const child = resolveSchema(root, node?.properties?.[key]);
        return [h("dt", {}, (child && schemaText(child, "title")) || key), h("dd", {}, renderValue(inner, child, root))];
      }),
    );
  }
  return String(value);
}
