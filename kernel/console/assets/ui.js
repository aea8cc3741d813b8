// Pieces every view shares: status badges, timelines, problem lists,
// notices, cursor paging, and the business lines with their schemas.

import * as api from "./api.js";
import { h, replace, when, announce } from "./dom.js";
import { t, schemaText, problemText, eventText } from "./i18n.js";

/**
 * Work that needs the view in the document (focus, scrolling): views render
 * into a detached container, and the shell runs these once it is mounted.
 */
export const afterMount = [];

/** A view that failed to load says why, in the hub's own words. */
export function showFailure(main, error) {
  replace(
    main,
    h("h1", {}, error?.status === 404 ? t("page.not_found") : t("common.failed")),
    h("p", { class: "error-text", role: "alert" }, error?.message ?? String(error)),
  );
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, dataset: { status } }, t(`status.${status}`));
}

/** A message line (success, error, info) that is also announced. */
export function notice(slot, text, kind = "info") {
  replace(slot, text ? h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text) : null);
  if (text && kind !== "error") announce(text);
}

/** Finance events are kept apart from business progress (they never change the status). */
export const FINANCE_KINDS = new Set(["charge-confirmed", "invoice-issued", "payment-received"]);

/** One timeline event as a list item: time, what happened, who, the customer-facing message. */
export function timelineItem(event, { staff = false } = {}) {
  const data = event.data ?? {};
  const facts = [];
  if (data.ops_ref) facts.push(h("span", { class: "fact" }, `${t("event.ops_ref")}: `, h("code", {}, data.ops_ref)));
  if (data.milestone) facts.push(h("span", { class: "fact" }, `${t("event.milestone")}: ${t(`milestone.${data.milestone}`, {}, data.milestone)}`));
  if (data.amount !== undefined) facts.push(h("span", { class: "fact" }, `${data.amount} ${data.currency ?? ""}`, data.document ? ` · ${data.document}` : ""));
  if (Array.isArray(data.reasons)) {
    facts.push(h("ul", { class: "reasons" }, data.reasons.map((r) => h("li", {}, r.field ? h("code", {}, r.field) : null, r.field ? " " : "", r.message))));
  }
  return h(
    "li",
    { class: `event kind-${event.kind}`, dataset: { seq: event.seq, kind: event.kind } },
    h("div", { class: "event-head" }, h("strong", { class: "event-kind" }, eventText(event.kind)), h("time", { datetime: event.at }, when(event.at))),
    event.message ? h("p", { class: "event-message" }, event.message) : null,
    facts.length ? h("div", { class: "event-facts" }, facts) : null,
    h("p", { class: "event-actor" }, actorText(event.actor)),
    staff && event.detail ? h("details", { class: "event-detail" }, h("summary", {}, t("event.detail")), h("pre", {}, typeof event.detail === "string" ? event.detail : JSON.stringify(event.detail, null, 2))) : null,
  );
}

export function actorText(actor) {
  if (!actor) return "";
  return `${t(`actor.${actor.kind}`, {}, actor.kind)}${actor.id ? ` ${actor.id}` : ""}`;
}

/** A list of problems; each is a button that focuses its field when `focus` is given. */
export function problemList(problems, focus) {
  return h(
    "ul",
    { class: "problem-list" },
    problems.map((p) =>
      h(
        "li",
        { class: p.reviewable ? "reviewable" : "blocking", title: p.code === "pattern" ? p.message : null },
        focus ? h("button", { type: "button", class: "link", onclick: () => focus(p.pointer) }, h("code", {}, p.pointer || "/")) : h("code", {}, p.pointer || "/"),
        " ",
        problemText(p),
      ),
    ),
  );
}

/**
 * A cursor-paged list: `load(cursor)` → {items, next}; `row(item)` → a <tr>.
 * Renders a table with a "more" button while the API gives a next cursor.
 */
export function pagedTable({ columns, load, row, empty }) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("common.more"));
  const status = h("p", { class: "table-status", role: "status" });
  const table = h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), body);
  let cursor = null;
  async function page(first) {
    more.disabled = true;
    try {
      const { items, next } = await load(first ? null : cursor);
      if (first) body.replaceChildren();
      items.forEach((item) => body.append(row(item)));
      cursor = next;
      more.hidden = !next;
      status.textContent = body.children.length === 0 ? empty : t("common.shown", { n: body.children.length });
    } catch (error) {
      status.textContent = error.message;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", () => page(false));
  return { element: h("div", { class: "paged" }, table, status, more), reload: () => page(true) };
}

// ---- business lines ----

let linesCache = null;
const schemaCache = new Map();

/** The business lines ({line, versions…}) with their current schemas. */
export async function businessLines() {
  if (!linesCache) {
    const answer = await api.get("/v1/business-lines");
    linesCache = answer.items;
  }
  return linesCache;
}

export async function schemaOf(line, version) {
  const key = `${line}@${version ?? "latest"}`;
  if (!schemaCache.has(key)) {
    schemaCache.set(key, api.get(`/v1/business-lines/${encodeURIComponent(line)}/schema`, { query: { version } }));
  }
  try {
    return await schemaCache.get(key);
  } catch (error) {
    schemaCache.delete(key);
    throw error;
  }
}

/** The line's name in the interface language (schema title), else its id. */
export async function lineTitle(line) {
  try {
    return schemaText(await schemaOf(line), "title") || line;
  } catch {
    return line;
  }
}

/** A <select> of business lines (with "all" when `any` is given). */
export async function lineSelect(attrs, any) {
  const lines = await businessLines();
  const select = h("select", attrs, any ? h("option", { value: "" }, any) : null);
  for (const entry of lines) {
    const id = entry.line ?? entry.id ?? entry;
    select.append(h("option", { value: id }, await lineTitle(id)));
  }
  return select;
}

/** Polls `refresh` every `ms` while the page is visible; returns a stopper. */
export function every(ms, refresh) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        await refresh();
      } catch {
        // the next tick tries again; the view shows its own error state
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
