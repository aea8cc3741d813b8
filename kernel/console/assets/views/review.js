// The reviewers' desk: the queue of orders the hub could not pass on by
// itself (oldest first), and one order opened beside its original
// submission with each open problem at its field. Corrections are typed
// into the fields and sent as the JSON Merge Patch (RFC 7396) of the
// normalized order the API takes; the hub re-validates them with the
// intake's rules.

import * as api from "../api.js";
import { h, replace, when, announce } from "../dom.js";
import { t, schemaText } from "../i18n.js";
import { SchemaForm, resolveSchema } from "../form.js";
import { notice, problemList, schemaOf, lineTitle, lineSelect, afterMount } from "../ui.js";

export async function queue(main, { params }) {
  const line = await lineSelect({ id: "review-line" }, t("common.all"));
  line.value = params.get("line") ?? "";
  const code = h("select", { id: "review-code" }, h("option", { value: "" }, t("common.all")));
  const body = h("tbody");
  const status = h("p", { role: "status", class: "table-status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("common.more"));
  let items = [];
  let next = null;
  const titles = new Map();

  async function load(first) {
    const answer = await api.get("/v1/review", { query: { line: line.value, limit: 50, after: first ? null : next } });
    items = first ? answer.items : items.concat(answer.items);
    next = answer.next;
    for (const item of answer.items) if (!titles.has(item.line)) titles.set(item.line, await lineTitle(item.line));
    const codes = new Set(items.flatMap((item) => item.problems.map((p) => p.code)));
    const chosen = code.value;
    replace(code, h("option", { value: "" }, t("common.all")), [...codes].sort().map((c) => h("option", { value: c }, t(`problem.${c}`, {}, c))));
    code.value = codes.has(chosen) ? chosen : "";
    show();
  }

  function show() {
    const rows = items.filter((item) => !code.value || item.problems.some((p) => p.code === code.value));
    body.replaceChildren(
      ...rows.map((item) =>
        h(
          "tr",
          { dataset: { orderId: item.id } },
          h("td", {}, h("a", { href: `#/review/${encodeURIComponent(item.id)}` }, when(item.created_at))),
          h("td", {}, titles.get(item.line) ?? item.line),
          h("td", {}, item.tenant),
          h("td", {}, item.normalized?.customer_reference ?? "—"),
          h("td", {}, h("ul", { class: "codes" }, item.problems.map((p) => h("li", {}, h("code", {}, p.pointer), " ", t(`problem.${p.code}`, {}, p.code))))),
        ),
      ),
    );
    more.hidden = !next;
    status.textContent = rows.length ? t("review.waiting", { n: rows.length }) : t("review.empty");
  }

  line.addEventListener("change", () => load(true));
  code.addEventListener("change", show);
  more.addEventListener("click", () => load(false));
  replace(
    main,
    h("h1", {}, t("nav.review")),
    h("p", { class: "lead" }, t("review.intro")),
    h(
      "div",
      { class: "filters" },
      h("div", { class: "field" }, h("label", { for: "review-line" }, t("orders.line")), line),
      h("div", { class: "field" }, h("label", { for: "review-code" }, t("review.problem_code")), code),
    ),
    h(
      "table",
      { id: "review-queue" },
      h("thead", {}, h("tr", {}, [t("orders.created"), t("orders.line"), t("orders.tenant"), t("orders.reference"), t("review.open_problems")].map((c) => h("th", { scope: "col" }, c)))),
      body,
    ),
    status,
    more,
  );
  await load(true);
}

/** One order at the desk: original on the left, the correctable form on the right. */
export async function desk(main, { args: [id] }) {
  const order = await api.get(`/v1/orders/${encodeURIComponent(id)}`);
  const schema = await schemaOf(order.line, order.schema_version);
  const message = h("div", { class: "form-message", id: "desk-message" });

  if (order.status !== "needs-review") {
    replace(
      main,
      h("h1", {}, t("review.desk_title")),
      h("p", { role: "status" }, await decidedText(order)),
      h("p", {}, h("a", { href: `#/orders/${encodeURIComponent(order.id)}` }, t("review.see_order")), " · ", h("a", { href: "#/review" }, t("review.back"))),
    );
    return undefined;
  }

  // Each correction is checked as it is typed, with the intake's rules
  // (POST /v1/validate on the corrected order), so the desk shows what a
  // release would say before it is pressed; the patch to be sent is shown too.
  const patchView = h("pre", { class: "patch", id: "patch-preview" }, "{}");
  const openProblems = h("div", { id: "open-problems" });
  let checkSeq = 0;
  let timer = null;
  const corrected = () => edited(order.normalized ?? {}, form.value(), schema);
  async function check() {
    const seq = ++checkSeq;
    const patch = mergePatch(order.normalized ?? {}, corrected());
    patchView.textContent = JSON.stringify(patch, null, 2);
    try {
      const verdict = await api.post(`/v1/validate/${encodeURIComponent(order.line)}`, corrected());
      if (seq !== checkSeq) return;
      form.showVerdict({ problems: verdict.problems, normalized: verdict.normalized });
      replace(
        openProblems,
        verdict.problems.length ? problemList(verdict.problems, (p) => form.focus(p)) : h("p", { class: "outcome outcome-valid" }, t("review.all_fixed")),
      );
    } catch (error) {
      if (seq === checkSeq) notice(message, error.message, "error");
    }
  }
  const form = new SchemaForm(schema, {
    initial: order.normalized ?? {},
    onChange: () => {
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    },
    onBlur: () => {
      clearTimeout(timer);
      check();
    },
  });
  form.showVerdict({ problems: order.problems, normalized: order.normalized });
  replace(openProblems, problemList(order.problems, (p) => form.focus(p)));

  const note = h("textarea", { id: "review-note", rows: 2, "aria-describedby": "review-note-hint" });
  const reason = h("textarea", { id: "reject-reason", rows: 2, "aria-describedby": "reject-reason-hint reject-reason-error" });
  const reasonError = h("p", { class: "field-error", id: "reject-reason-error", hidden: true });
  const release = h("button", { type: "submit", class: "primary", id: "release" }, t("review.release"));
  const reject = h("button", { type: "button", class: "danger", id: "reject" }, t("review.reject"));

  function busy(on) {
    release.disabled = on;
    reject.disabled = on;
  }

  async function conflict(error) {
    // Someone else decided first: say who and when, from the order's timeline.
    let text = error.message;
    try {
      text = await decidedText(await api.get(`/v1/orders/${encodeURIComponent(order.id)}`));
    } catch {
      // keep the hub's own message
    }
    notice(message, text, "error");
  }

  const deskForm = h(
    "form",
    { class: "desk-form", novalidate: true, "aria-labelledby": "desk-corrections" },
    h("h2", { id: "desk-corrections" }, t("review.corrections")),
    form.element,
    h("div", { class: "field" }, h("label", { for: "review-note" }, t("review.note")), note, h("p", { class: "hint", id: "review-note-hint" }, t("review.note_hint"))),
    h("details", { class: "patch-box" }, h("summary", {}, t("review.patch")), patchView),
    h("div", { class: "form-actions" }, release),
    h(
      "fieldset",
      { class: "group reject-box" },
      h("legend", {}, t("review.reject_title")),
      h("div", { class: "field" }, h("label", { for: "reject-reason" }, t("review.reason")), reason, h("p", { class: "hint", id: "reject-reason-hint" }, t("review.reason_hint")), reasonError),
      reject,
    ),
    message,
  );

  deskForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(true);
    clearTimeout(timer);
    const corrections = mergePatch(order.normalized ?? {}, corrected());
    try {
      await api.post(`/v1/review/${encodeURIComponent(order.id)}/release`, {
        corrections,
        note: note.value.trim() || undefined,
      });
      announce(t("review.released"));
      location.hash = `#/orders/${encodeURIComponent(order.id)}`;
    } catch (error) {
      if (error.status === 422) {
        form.showVerdict({ problems: error.problems });
        replace(openProblems, problemList(error.problems, (p) => form.focus(p)));
        notice(message, t("review.still_wrong", { n: error.problems.length }), "error");
        if (error.problems[0]) form.focus(error.problems[0].pointer);
      } else if (error.status === 409) {
        await conflict(error);
      } else {
        notice(message, error.message, "error");
      }
      busy(false);
    }
  });

  reject.addEventListener("click", async () => {
    reasonError.hidden = true;
    reason.removeAttribute("aria-invalid");
    if (!reason.value.trim()) {
      reasonError.hidden = false;
      reasonError.textContent = t("review.reason_needed");
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    busy(true);
    try {
      await api.post(`/v1/review/${encodeURIComponent(order.id)}/reject`, {
        reason: reason.value.trim(),
        note: note.value.trim() || undefined,
      });
      announce(t("review.rejected"));
      location.hash = "#/review";
    } catch (error) {
      if (error.status === 409) await conflict(error);
      else notice(message, error.message, "error");
      busy(false);
    }
  });

  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/review" }, t("nav.review"))),
    h("h1", {}, t("review.desk_title"), " · ", schemaText(schema, "title") || order.line),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("orders.tenant")),
      h("dd", {}, order.tenant ?? "—"),
      h("dt", {}, t("orders.reference")),
      h("dd", {}, order.customer_reference ?? "—"),
      h("dt", {}, t("orders.created")),
      h("dd", {}, when(order.created_at)),
      h("dt", {}, t("order.id")),
      h("dd", {}, h("a", { href: `#/orders/${encodeURIComponent(order.id)}` }, h("code", {}, order.id))),
    ),
    h("section", { class: "card notice-review" }, h("h2", {}, t("review.open_problems")), openProblems),
    h(
      "div",
      { class: "desk" },
      h("section", { class: "card original", "aria-labelledby": "original-title" }, h("h2", { id: "original-title" }, t("review.original")), h("pre", { class: "submission", tabindex: "0" }, JSON.stringify(order.submission, null, 2))),
      h("section", { class: "card" }, deskForm),
    ),
  );
  afterMount.push(() => form.focus(order.problems[0]?.pointer ?? ""));
  return () => clearTimeout(timer);
}

/** "Released by reviewer-li at …" from the order's timeline. */
async function decidedText(order) {
  const events = order.timeline ?? [];
  const decision = [...events].reverse().find((e) => e.kind === "reviewed" || (e.kind === "rejected" && e.actor?.kind === "staff"));
  if (!decision) return t("review.not_in_review", { status: t(`status.${order.status}`) });
  return t(decision.kind === "reviewed" ? "review.already_released" : "review.already_rejected", {
    who: decision.actor?.id ?? "?",
    at: when(decision.at),
  });
}

/**
 * The normalized order with the form's values laid over it: fields the form
 * shows take the typed value (or are removed when emptied); fields the form
 * does not know are kept as they are.
 */
export function edited(original, typed, schema) {
  return overlay(original, typed, schema, schema);
}

function overlay(original, typed, node, root) {
  node = resolveSchema(root, node);
  if (!node?.properties || typeof original !== "object" || original === null || Array.isArray(original)) return typed;
  const out = { ...original };
  for (const [key, child] of Object.entries(node.properties)) {
    const resolved = resolveSchema(root, child);
    if (typed?.[key] === undefined) delete out[key];
    else if (resolved?.type === "object" && resolved.properties) out[key] = overlay(original[key] ?? {}, typed[key], resolved, root);
    else out[key] = typed[key];
  }
  return out;
}

/** RFC 7396: the patch that turns `from` into `to` (arrays are replaced whole). */
export function mergePatch(from, to) {
  if (!isObject(from) || !isObject(to)) return to;
  const patch = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (!(key in from)) patch[key] = value;
    else if (isObject(from[key]) && isObject(value)) {
      const inner = mergePatch(from[key], value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (!sameJson(from[key], value)) patch[key] = value;
  }
  return patch;
}

/** JSON equality, whatever the order of object keys (the form's order is the schema's, the store's is another). */
function sameJson(a, b) {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return a === b;
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
