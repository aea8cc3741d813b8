// The operators' room: targets with their breakers and backlogs (refreshed
// live), dead letters with their attempt history and replay, plugins with
// their versions (activate, roll back, rescan), replies that matched no
// order or came too late, and the audit log.

import * as api from "../api.js";
import { h, replace, when } from "../dom.js";
import { t } from "../i18n.js";
import { notice, pagedTable, timelineItem, every, lineSelect } from "../ui.js";

const REFRESH_MS = 2000;

export async function targets(main) {
  const body = h("tbody");
  const updated = h("p", { class: "table-status", id: "targets-updated", role: "status", "aria-live": "off" });
  const pollers = h("p", { class: "hint" });

  async function refresh() {
    const answer = await api.get("/v1/targets");
    body.replaceChildren(
      ...answer.targets.map(({ lane, jobs }) => {
        const backlog = (jobs.pending ?? 0) + (jobs.leased ?? 0);
        return h(
          "tr",
          { dataset: { target: lane.target, breaker: lane.breaker } },
          h("th", { scope: "row" }, lane.target),
          h("td", {}, h("span", { class: `badge breaker-${lane.breaker}`, dataset: { breaker: lane.breaker } }, t(`breaker.${lane.breaker}`, {}, lane.breaker))),
          h("td", { class: "num" }, `${lane.in_flight} / ${lane.concurrency}`),
          h("td", { class: "num", dataset: { backlog } }, String(backlog)),
          h("td", { class: "num" }, String(lane.delivered)),
          h("td", { class: "num" }, String(lane.failed_attempts)),
          h("td", { class: "num" }, jobs.dead ? h("a", { href: `#/dead-letters?target=${encodeURIComponent(lane.target)}` }, String(jobs.dead)) : "0"),
          h("td", { class: "num" }, String(lane.breaker_opened)),
        );
      }),
    );
    if (!answer.targets.length) body.append(h("tr", {}, h("td", { colspan: 8 }, t("targets.none"))));
    updated.textContent = t("targets.updated", { at: when(new Date().toISOString()), node: answer.node ?? "—" });
    pollers.textContent = answer.pollers ? t("targets.pollers", { node: answer.pollers.node, until: when(answer.pollers.until) }) : t("targets.no_pollers");
  }

  replace(
    main,
    h("h1", {}, t("nav.targets")),
    h("p", { class: "lead" }, t("targets.intro")),
    h(
      "table",
      { id: "targets" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [t("targets.target"), t("targets.breaker"), t("targets.in_flight"), t("targets.backlog"), t("targets.delivered"), t("targets.failed"), t("targets.dead"), t("targets.opened")].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      body,
    ),
    updated,
    pollers,
  );
  await refresh();
  return every(REFRESH_MS, refresh);
}

export async function deadLetters(main, { params }) {
  const message = h("div", { id: "dlq-message" });
  const target = h("input", { id: "dlq-target", type: "search", value: params.get("target") ?? "", autocomplete: "off" });
  const line = await lineSelect({ id: "dlq-line" }, t("common.all"));
  // Transport kinds and the sandbox's own (trap, cpu-budget, …): free text with suggestions.
  const errorKind = h("input", { id: "dlq-error-kind", type: "search", list: "dlq-error-kinds", autocomplete: "off" });
  const errorKinds = h(
    "datalist",
    { id: "dlq-error-kinds" },
    ["timeout", "refused", "unauthorized", "not-found", "unavailable", "protocol-error", "too-large", "denied", "trap", "cpu-budget"].map((k) => h("option", { value: k })),
  );
  const since = h("input", { id: "dlq-since", type: "datetime-local" });
  const filter = () => ({
    target: target.value.trim() || undefined,
    line: line.value || undefined,
    error_kind: errorKind.value.trim() || undefined,
    since: since.value ? new Date(since.value).toISOString() : undefined,
  });

  const table = pagedTable({
    columns: [t("dlq.dead_at"), t("targets.target"), t("orders.line"), t("dlq.attempts"), t("dlq.error"), ""],
    empty: t("dlq.none"),
    load: async (cursor) => {
      const answer = await api.get("/v1/dead-letters", { query: { ...filter(), after: cursor } });
      return { items: answer.items, next: answer.next };
    },
    row: (letter) => {
      const replay = h("button", { type: "button", class: "secondary", "aria-label": t("dlq.replay_one", { id: letter.order_id }) }, t("dlq.replay"));
      replay.addEventListener("click", async () => {
        replay.disabled = true;
        try {
          await api.post(`/v1/dead-letters/${encodeURIComponent(letter.job_id)}/replay`, {});
          notice(message, t("dlq.replayed", { id: letter.order_id }), "success");
          await table.reload();
        } catch (error) {
          notice(message, error.message, "error");
          replay.disabled = false;
        }
      });
      return h(
        "tr",
        { dataset: { jobId: letter.job_id, orderId: letter.order_id } },
        h("td", {}, h("a", { href: `#/dead-letters/${encodeURIComponent(letter.job_id)}` }, when(letter.dead_at))),
        h("td", {}, letter.target),
        h("td", {}, letter.line),
        h("td", { class: "num" }, String(letter.attempts), letter.replays ? ` (${t("dlq.replays", { n: letter.replays })})` : ""),
        h("td", {}, letter.error_kind ? h("code", {}, letter.error_kind) : null, " ", letter.error ?? ""),
        h("td", {}, replay),
      );
    },
  });

  const replayAll = h("button", { type: "button", class: "primary", id: "dlq-replay-all" }, t("dlq.replay_filter"));
  replayAll.addEventListener("click", async () => {
    const body = Object.fromEntries(Object.entries(filter()).filter(([, v]) => v !== undefined));
    if (!confirm(t("dlq.confirm_filter", { filter: JSON.stringify(body) }))) return;
    replayAll.disabled = true;
    try {
      const report = await api.post("/v1/dead-letters/replay", body);
      notice(message, t("dlq.replayed_n", report), "success");
      await table.reload();
    } catch (error) {
      notice(message, error.message, "error");
    } finally {
      replayAll.disabled = false;
    }
  });

  const filters = h(
    "form",
    { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "dlq-target" }, t("targets.target")), target),
    h("div", { class: "field" }, h("label", { for: "dlq-line" }, t("orders.line")), line),
    h("div", { class: "field" }, h("label", { for: "dlq-error-kind" }, t("dlq.error_kind")), errorKind, errorKinds),
    h("div", { class: "field" }, h("label", { for: "dlq-since" }, t("dlq.since")), since),
    h("button", { type: "submit", class: "secondary" }, t("common.apply")),
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    table.reload();
  });
  replace(main, h("h1", {}, t("nav.dead_letters")), h("p", { class: "lead" }, t("dlq.intro")), filters, message, table.element, h("div", { class: "form-actions" }, replayAll));
  await table.reload();
  return every(REFRESH_MS * 3, async () => {
    // Only refresh when the operator is not in the middle of something.
    if (!main.contains(document.activeElement) || document.activeElement === document.body) await table.reload();
  });
}

export async function deadLetter(main, { args: [jobId] }) {
  const answer = await api.get(`/v1/dead-letters/${encodeURIComponent(jobId)}`);
  const letter = answer.dead_letter;
  const message = h("div");
  const replay = h("button", { type: "button", class: "primary" }, t("dlq.replay"));
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      await api.post(`/v1/dead-letters/${encodeURIComponent(jobId)}/replay`, {});
      notice(message, t("dlq.replayed", { id: letter.order_id }), "success");
    } catch (error) {
      notice(message, error.message, "error");
      replay.disabled = false;
    }
  });
  replace(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/dead-letters" }, t("nav.dead_letters"))),
    h("h1", {}, t("dlq.title", { target: letter.target })),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("order.id")),
      h("dd", {}, h("a", { href: `#/orders/${encodeURIComponent(letter.order_id)}` }, h("code", {}, letter.order_id))),
      h("dt", {}, t("orders.tenant")),
      h("dd", {}, letter.tenant),
      h("dt", {}, t("orders.line")),
      h("dd", {}, letter.line),
      h("dt", {}, t("dlq.dead_at")),
      h("dd", {}, when(letter.dead_at)),
      h("dt", {}, t("dlq.error")),
      h("dd", {}, letter.error_kind ? h("code", {}, letter.error_kind) : null, " ", letter.error ?? ""),
    ),
    h("div", { class: "form-actions" }, replay, message),
    h(
      "section",
      { class: "card" },
      h("h2", {}, t("dlq.attempt_history")),
      h(
        "table",
        { id: "attempts" },
        h("thead", {}, h("tr", {}, [t("dlq.started"), t("dlq.node"), t("dlq.plugin"), t("dlq.outcome"), t("dlq.error")].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          answer.attempts.map((a) =>
            h(
              "tr",
              {},
              h("td", {}, when(a.started_at)),
              h("td", {}, a.node),
              h("td", {}, `${a.plugin}@${a.plugin_version}`),
              h("td", {}, a.outcome),
              h("td", {}, a.error_kind ? h("code", {}, a.error_kind) : null, " ", a.detail ?? ""),
            ),
          ),
        ),
      ),
    ),
    h("section", { class: "card" }, h("h2", {}, t("order.progress")), h("ol", { class: "timeline" }, (answer.timeline ?? []).map((e) => timelineItem(e, { staff: true })))),
  );
}

export async function plugins(main) {
  const message = h("div", { id: "plugins-message" });
  const pluginBody = h("tbody");
  const targetBody = h("tbody");
  const rescan = h("button", { type: "button", class: "secondary" }, t("plugins.rescan"));

  async function refresh() {
    const answer = await api.get("/v1/plugins");
    pluginBody.replaceChildren(
      ...answer.plugins.map((plugin) => {
        const version = h("select", { "aria-label": t("plugins.version_of", { name: plugin.name }) }, plugin.versions.map((v) => h("option", { value: v, selected: v === plugin.active }, v)));
        const activate = h("button", { type: "button", class: "secondary" }, t("plugins.activate"));
        const rollback = h("button", { type: "button", class: "link" }, t("plugins.rollback"));
        activate.addEventListener("click", () => act(`/v1/plugins/${encodeURIComponent(plugin.name)}/activate`, { version: version.value }));
        rollback.addEventListener("click", () => act(`/v1/plugins/${encodeURIComponent(plugin.name)}/rollback`, undefined));
        return h(
          "tr",
          { dataset: { plugin: plugin.name } },
          h("th", { scope: "row" }, plugin.name),
          h("td", {}, h("strong", {}, plugin.active)),
          h("td", {}, plugin.versions.join(", ")),
          h("td", { class: "actions" }, version, activate, rollback),
        );
      }),
    );
    targetBody.replaceChildren(
      ...answer.targets.map((target) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, target.name),
          h("td", {}, target.plugin),
          h("td", {}, target.serving_version ?? "—", target.pinned_version ? ` (${t("plugins.pinned", { v: target.pinned_version })})` : ""),
          h("td", {}, (target.grants ?? []).join(", ")),
        ),
      ),
    );
  }

  async function act(path, body) {
    try {
      const result = await api.post(path, body);
      notice(message, t("plugins.now_active", { name: result.plugin, version: result.active }), "success");
      await refresh();
    } catch (error) {
      notice(message, error.message, "error");
    }
  }

  rescan.addEventListener("click", async () => {
    try {
      const report = await api.post("/v1/plugins/rescan");
      const problems = (report.problems ?? []).map((p) => (typeof p === "string" ? p : JSON.stringify(p)));
      notice(message, t("plugins.rescanned", { installed: (report.installed ?? []).join(", ") || "—" }) + (problems.length ? ` ${problems.join("; ")}` : ""), problems.length ? "error" : "success");
      await refresh();
    } catch (error) {
      notice(message, error.message, "error");
    }
  });

  replace(
    main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.plugins")), rescan),
    message,
    h("h2", {}, t("plugins.installed")),
    h("table", { id: "plugins" }, h("thead", {}, h("tr", {}, [t("plugins.name"), t("plugins.active"), t("plugins.versions"), ""].map((c) => h("th", { scope: "col" }, c)))), pluginBody),
    h("h2", {}, t("plugins.targets")),
    h("table", {}, h("thead", {}, h("tr", {}, [t("targets.target"), t("plugins.plugin"), t("plugins.serving"), t("plugins.grants")].map((c) => h("th", { scope: "col" }, c)))), targetBody),
  );
  await refresh();
}

export async function replies(main) {
  const unmatched = pagedTable({
    columns: [t("replies.received"), t("targets.target"), t("replies.source"), t("replies.correlation"), t("replies.reason"), t("replies.body")],
    empty: t("replies.none_unmatched"),
    load: async (cursor) => {
      const answer = await api.get("/v1/replies/unmatched", { query: { after: cursor } });
      return { items: answer.items, next: answer.next };
    },
    row: (r) =>
      h(
        "tr",
        {},
        h("td", {}, when(r.received_at)),
        h("td", {}, r.target),
        h("td", {}, r.source),
        h("td", {}, r.correlation_id ? h("code", {}, r.correlation_id) : "—"),
        h("td", {}, r.reason),
        h("td", {}, h("details", {}, h("summary", {}, r.content_type ?? t("replies.body")), h("pre", {}, decodeBody(r.body)))),
      ),
  });
  const overdue = await api.get("/v1/replies/overdue");
  const keys = overdue.items.length ? Object.keys(overdue.items[0]) : [];
  replace(
    main,
    h("h1", {}, t("nav.replies")),
    h("h2", {}, t("replies.unmatched")),
    h("p", { class: "hint" }, t("replies.unmatched_hint")),
    unmatched.element,
    h("h2", {}, t("replies.overdue")),
    h("p", { class: "hint" }, t("replies.overdue_hint")),
    overdue.items.length
      ? h(
          "table",
          { id: "overdue" },
          h("thead", {}, h("tr", {}, keys.map((k) => h("th", { scope: "col" }, k)))),
          h(
            "tbody",
            {},
            overdue.items.map((item) =>
              h(
                "tr",
                {},
                keys.map((k) => h("td", {}, k === "order_id" ? h("a", { href: `#/orders/${encodeURIComponent(item[k])}` }, item[k]) : formatCell(item[k]))),
              ),
            ),
          ),
        )
      : h("p", { class: "table-status" }, t("replies.none_overdue")),
  );
  await unmatched.reload();
}

export async function audit(main) {
  const action = h("input", { id: "audit-action", type: "search", placeholder: "subscription.", autocomplete: "off" });
  const subject = h("input", { id: "audit-subject", type: "search", autocomplete: "off" });
  const table = pagedTable({
    columns: [t("audit.at"), t("audit.actor"), t("audit.action"), t("audit.subject"), t("audit.detail")],
    empty: t("audit.none"),
    load: async (cursor) => {
      const answer = await api.get("/v1/audit", { query: { action: action.value.trim(), subject: subject.value.trim(), cursor } });
      return { items: answer.entries, next: answer.next_cursor };
    },
    row: (entry) =>
      h(
        "tr",
        {},
        h("td", {}, when(entry.at)),
        h("td", {}, `${entry.actor?.kind ?? ""} ${entry.actor?.id ?? ""}`),
        h("td", {}, h("code", {}, entry.action)),
        h("td", {}, entry.subject),
        h("td", {}, h("code", { class: "detail" }, JSON.stringify(entry.detail))),
      ),
  });
  const filters = h(
    "form",
    { class: "filters", role: "search" },
    h("div", { class: "field" }, h("label", { for: "audit-action" }, t("audit.action_prefix")), action),
    h("div", { class: "field" }, h("label", { for: "audit-subject" }, t("audit.subject")), subject),
    h("button", { type: "submit", class: "secondary" }, t("common.apply")),
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    table.reload();
  });
  replace(main, h("h1", {}, t("nav.audit")), filters, table.element);
  await table.reload();
}

function decodeBody(base64) {
  try {
    const bytes = Uint8Array.from(atob(base64 ?? ""), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  } catch {
    return base64 ?? "";
  }
}

function formatCell(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) return when(value);
  return String(value);
}
