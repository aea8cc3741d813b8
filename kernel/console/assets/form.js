// A form generated from a business line's JSON Schema
// (GET /v1/business-lines/{line}/schema), the same document the hub
// validates against — so the form cannot drift from the rules.
//
// Every input carries the JSON Pointer of its field (`data-pointer`), which
// is exactly the pointer of the problems the hub reports (pointers into the
// normalized order use the schema's own property names, as the form does).
// That is how a problem lands at its field and how the normalized value
// ("2026/11/3" → 2026-11-03) is shown beside what was typed.
//
// Values are sent as typed: the hub's normalizer owns the conversions
// (units, dates, full-width digits, codes), the form never second-guesses it.

import { h, uid, append } from "./dom.js";
import { t, schemaText, problemText, lang } from "./i18n.js";

const UNITS = {
  weight: ["kg", "lb", "t", "斤", "g"],
  volume: ["m3", "ft3", "L"],
};
const UNIT_SHOWN = { m3: "m³", ft3: "ft³" };

/**
 * Follows a local `$ref` (`#/$defs/party`) of the schema `root`; the
 * referring node's own keywords (title, description) win. `{}` for no node.
 */
export function resolveSchema(root, node) {
  if (!node || typeof node.$ref !== "string" || !node.$ref.startsWith("#/")) return node ?? {};
  const { $ref, ...own } = node;
  return { ...resolveSchema(root, valueAt(root, $ref.slice(1))), ...own };
}

export function pointerPush(base, token) {
  return `${base}/${String(token).replace(/~/g, "~0").replace(/\//g, "~1")}`;
}

export function valueAt(document, pointer) {
  if (pointer === "") return document;
  let value = document;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (value === null || typeof value !== "object") return undefined;
    value = value[token];
  }
  return value;
}

/** True when `inner` is `outer` or below it. */
export function within(inner, outer) {
  return inner === outer || (inner.startsWith(outer) && inner[outer.length] === "/");
}

/**
 * Builds the form for `schema` into a fieldset tree.
 * `onChange(pointer)` is called (debounced by the caller) when a value
 * changes; `onBlur(pointer)` when a field loses focus.
 * `initial` (optional) fills the form, e.g. with an order to correct.
 */
export class SchemaForm {
  constructor(schema, { initial, onChange = () => {}, onBlur = () => {}, readOnly = false } = {}) {
    this.root = schema;
    this.onChange = onChange;
    this.onBlur = onBlur;
    this.readOnly = readOnly;
    /** pointer → {input, error, normalized, node, unit} for every leaf field. */
    this.fields = new Map();
    /** pointer → container element (fieldsets of objects and array items). */
    this.groups = new Map();
    this.element = this.objectFields(schema, "", initial ?? {}, true);
  }

  // ---- building ----

  field(node, pointer, name, required, initial) {
    node = resolveSchema(this.root, node);
    if (node.type === "object" && node.properties) {
      const legendId = uid("legend");
      const box = h(
        "fieldset",
        { class: "group", dataset: { pointer }, "aria-labelledby": legendId },
        h("legend", { id: legendId }, label(node, name), required ? requiredMark() : null),
        hint(node),
        this.groupError(pointer),
      );
      box.append(this.objectFields(node, pointer, initial ?? {}));
      this.groups.set(pointer, box);
      return required ? box : this.optionalGroup(box, node, name, pointer, initial);
    }
    if (node.type === "array" && node.items) {
      return this.arrayField(node, pointer, name, required, Array.isArray(initial) ? initial : []);
    }
    return this.leaf(node, pointer, name, required, initial);
  }

  objectFields(node, pointer, initial, isRoot = false) {
    node = resolveSchema(this.root, node);
    const required = new Set(node.required ?? []);
    const box = isRoot ? h("div", { class: "form-root", dataset: { pointer: "" } }, this.groupError("")) : h("div", { class: "fields" });
    if (isRoot) this.groups.set("", box);
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      box.append(this.field(child, pointerPush(pointer, name), name, required.has(name), initial?.[name]));
    }
    return box;
  }

  arrayField(node, pointer, name, required, initial) {
    const itemNode = resolveSchema(this.root, node.items);
    const legendId = uid("legend");
    const list = h("ol", { class: "items" });
    const box = h(
      "fieldset",
      { class: "group array", dataset: { pointer }, "aria-labelledby": legendId },
      h("legend", { id: legendId }, label(node, name), required ? requiredMark() : null),
      hint(node),
      this.groupError(pointer),
      list,
    );
    this.groups.set(pointer, box);
    const min = Math.max(node.minItems ?? 0, required ? 1 : 0);
    const max = node.maxItems ?? Infinity;
    const addButton = h("button", { type: "button", class: "secondary", disabled: this.readOnly }, t("form.add_item", { what: label(itemNode, name, true) }));
    const renumber = () => {
      [...list.children].forEach((li, index) => {
        li.querySelector(".item-title").textContent = t("form.item_n", { n: index + 1 });
      });
      addButton.disabled = this.readOnly || list.children.length >= max;
    };
    const addItem = (value) => {
      const index = list.children.length;
      const itemPointer = pointerPush(pointer, index);
      const remove = h(
        "button",
        { type: "button", class: "link danger", disabled: this.readOnly },
        t("form.remove_item"),
      );
      const title = h("span", { class: "item-title" });
      const li = h("li", { class: "item", dataset: { pointer: itemPointer } }, h("div", { class: "item-head" }, title, remove));
      this.groups.set(itemPointer, li);
      li.append(this.groupError(itemPointer), this.objectFields(itemNode, itemPointer, value ?? {}));
      remove.addEventListener("click", () => {
        if (list.children.length <= min) return;
        // Items after this one move up: rebuild them with their values so
        // each field keeps the pointer of its new position.
        const values = [...list.children].map((_, i) => this.value(pointerPush(pointer, i)) ?? {});
        values.splice(index, 1);
        this.forget(pointer);
        list.replaceChildren();
        values.forEach(addItem);
        while (list.children.length < min) addItem({});
        renumber();
        this.onChange(pointer);
        list.querySelector("input, select, textarea")?.focus();
      });
      list.append(li);
      renumber();
      return li;
    };
    addButton.addEventListener("click", () => {
      const li = addItem({});
      this.onChange(pointer);
      li.querySelector("input, select, textarea")?.focus();
    });
    initial.forEach(addItem);
    while (list.children.length < Math.max(min, 1)) addItem({});
    box.append(addButton);
    return box;
  }

  leaf(node, pointer, name, required, initial) {
    const id = uid("field");
    const hintNode = hint(node);
    const hintId = hintNode ? uid("hint") : null;
    if (hintNode) hintNode.id = hintId;
    const errorId = uid("error");
    const error = h("p", { class: "field-error", id: errorId, hidden: true });
    const normalizedId = uid("normalized");
    const normalized = h("output", { class: "normalized", id: normalizedId, for: id, hidden: true });
    const describedBy = [hintId, errorId, normalizedId].filter(Boolean).join(" ");
    const common = {
      id,
      name: pointer,
      dataset: { pointer },
      "aria-describedby": describedBy,
      "aria-required": required ? "true" : null,
      disabled: this.readOnly,
    };
    let input;
    let unit = null;
    if (Array.isArray(node.enum)) {
      input = h(
        "select",
        common,
        h("option", { value: "" }, t("form.choose")),
        node.enum.map((value) => h("option", { value: String(value) }, enumLabel(node, value))),
      );
      if (initial !== undefined && initial !== null) {
        const text = String(initial);
        if (!node.enum.map(String).includes(text)) input.append(h("option", { value: text }, text));
        input.value = text;
      }
    } else if (node.maxLength >= 1000) {
      input = h("textarea", { ...common, rows: 3 });
      if (initial !== undefined && initial !== null) input.value = String(initial);
    } else {
      const numeric = node.type === "number" || node.type === "integer";
      input = h("input", {
        ...common,
        type: "text",
        inputmode: numeric && !node["x-hub-quantity"] ? "decimal" : null,
        autocomplete: "off",
        spellcheck: "false",
        placeholder: placeholder(node),
      });
      if (initial !== undefined && initial !== null) input.value = String(initial);
    }
    const control = h("div", { class: "control" }, input);
    const dimension = node["x-hub-quantity"]?.dimension;
    if (dimension && UNITS[dimension]) {
      unit = h(
        "select",
        { class: "unit", "aria-label": t("form.unit_of", { field: label(node, name) }), disabled: this.readOnly },
        UNITS[dimension].map((u) => h("option", { value: u }, UNIT_SHOWN[u] ?? u)),
      );
      control.append(unit);
      unit.addEventListener("change", () => this.onChange(pointer));
      // "1200 lb" (a rebuilt line, an order being corrected) → 1200 + lb.
      const typed = /^\s*(-?\d+(?:\.\d+)?)\s*(\S+)\s*$/.exec(input.value);
      if (typed && UNITS[dimension].includes(typed[2])) {
        input.value = typed[1];
        unit.value = typed[2];
      }
    }
    input.addEventListener("input", () => this.onChange(pointer));
    input.addEventListener("change", () => this.onChange(pointer));
    input.addEventListener("blur", () => this.onBlur(pointer));
    this.fields.set(pointer, { input, error, normalized, node, unit, required });
    return h(
      "div",
      { class: "field", dataset: { pointer } },
      h("label", { for: id }, label(node, name), required ? requiredMark() : null),
      control,
      hintNode,
      normalized,
      error,
    );
  }

  /**
   * An optional party (e.g. the notify party) stays folded behind an "Add"
   * button until the user wants it: its required fields only apply once
   * it is there. "Remove" empties it again, so nothing of it is sent.
   */
  optionalGroup(box, node, name, pointer, initial) {
    const present = initial && typeof initial === "object" && Object.keys(initial).length > 0;
    const add = h("button", { type: "button", class: "secondary add-group", disabled: this.readOnly }, t("form.add_group", { what: label(node, name) }));
    const remove = h("button", { type: "button", class: "link danger remove-group", disabled: this.readOnly }, t("form.remove_group", { what: label(node, name) }));
    box.querySelector("legend").append(" ", remove);
    const show = (on) => {
      box.hidden = !on;
      add.hidden = on;
    };
    add.addEventListener("click", () => {
      show(true);
      box.querySelector("input, select, textarea")?.focus();
    });
    remove.addEventListener("click", () => {
      for (const [key, field] of this.fields) {
        if (within(key, pointer)) field.input.value = "";
      }
      show(false);
      this.onChange(pointer);
      add.focus();
    });
    show(present);
    return h("div", { class: "optional-group", dataset: { optional: pointer } }, add, box);
  }

  groupError(pointer) {
    const error = h("p", { class: "field-error group-error", hidden: true, dataset: { errorFor: pointer } });
    return error;
  }

  /** Drops the bookkeeping of every field at or below `pointer` (array rebuilt). */
  forget(pointer) {
    for (const key of [...this.fields.keys()]) if (within(key, pointer) && key !== pointer) this.fields.delete(key);
    for (const key of [...this.groups.keys()]) if (within(key, pointer) && key !== pointer) this.groups.delete(key);
  }

  // ---- reading ----

  /** The order as typed: empty optional fields left out, numbers as numbers when they are plain numbers. */
  value(under = "") {
    const out = {};
    for (const [pointer, field] of this.fields) {
      if (!within(pointer, under)) continue;
      const value = leafValue(field);
      if (value === undefined) continue;
      setAt(out, pointer, value);
    }
    const inner = valueAt(out, under);
    if (under !== "") return inner;
    // Keep array items that were left completely empty, so the hub reports
    // their required fields where the user sees them.
    for (const [pointer, group] of this.groups) {
      if (group.tagName === "LI" && valueAt(out, pointer) === undefined) setAt(out, pointer, {});
    }
    return compactArrays(out);
  }

  /** The pointers of every input (for "touch all" on submit). */
  pointers() {
    return [...this.fields.keys()];
  }

  // ---- showing the hub's verdict ----

  /**
   * Shows `problems` at their fields (only those under a `shown` pointer,
   * if given) and the normalized value beside each field that changed.
   * Returns the problems that have no field of their own (shown at their
   * nearest group).
   */
  showVerdict({ problems = [], normalized } = {}, shown = null) {
    const visible = shown ? problems.filter((p) => [...shown].some((s) => within(p.pointer, s) || within(s, p.pointer))) : problems;
    const byPointer = new Map();
    for (const problem of visible) {
      const at = this.placeFor(problem.pointer);
      if (!byPointer.has(at)) byPointer.set(at, []);
      byPointer.get(at).push(problem);
    }
    for (const [pointer, field] of this.fields) {
      const list = byPointer.get(pointer) ?? [];
      setError(field.error, list);
      // aria-invalid only for what blocks; a problem staff will check is a warning.
      const blocking = list.some((p) => !p.reviewable);
      if (blocking) field.input.setAttribute("aria-invalid", "true");
      else field.input.removeAttribute("aria-invalid");
      field.input.toggleAttribute("data-review", !blocking && list.length > 0);
      field.input.closest(".field")?.classList.toggle("has-error", list.some((p) => !p.reviewable));
      field.input.closest(".field")?.classList.toggle("has-warning", list.length > 0 && list.every((p) => p.reviewable));
      this.showNormalized(pointer, field, normalized, list.length > 0);
    }
    for (const [pointer, group] of this.groups) {
      const slot = group.querySelector(`:scope > .group-error, :scope > [data-error-for]`);
      if (slot) setError(slot, byPointer.get(pointer) ?? []);
    }
    return visible;
  }

  showNormalized(pointer, field, normalized, hasProblem) {
    const typed = leafValue(field);
    const value = normalized === undefined ? undefined : valueAt(normalized, pointer);
    const show = !hasProblem && typed !== undefined && value !== undefined && value !== null && String(value) !== String(typed).trim();
    field.normalized.hidden = !show;
    field.normalized.textContent = show ? `→ ${formatValue(field.node, value)}` : "";
  }

  /** The field (or nearest group) where a problem at `pointer` is shown. */
  placeFor(pointer) {
    let at = pointer;
    for (;;) {
      if (this.fields.has(at) || this.groups.has(at)) return at;
      if (at === "") return "";
      at = at.slice(0, at.lastIndexOf("/"));
    }
  }

  focus(pointer) {
    const at = this.placeFor(pointer);
    const target = this.fields.get(at)?.input ?? this.groups.get(at)?.querySelector("input, select, textarea, button");
    target?.focus();
    target?.scrollIntoView({ block: "center" });
  }
}

function leafValue({ input, node, unit }) {
  const raw = input.value;
  if (raw === undefined || raw.trim() === "") return undefined;
  const plainNumber = /^\s*-?\d+(\.\d+)?\s*$/.test(raw);
  if (unit) {
    const canonical = unit.options[0].value;
    if (!plainNumber) return raw;
    if (unit.value === canonical) return Number(raw);
    return `${raw.trim()} ${unit.value}`;
  }
  if ((node.type === "number" || node.type === "integer") && plainNumber) return Number(raw);
  return raw;
}

function setAt(target, pointer, value) {
  const tokens = pointer.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
  let node = target;
  tokens.forEach((token, i) => {
    const last = i === tokens.length - 1;
    if (last) {
      node[token] = value;
      return;
    }
    if (node[token] === undefined) node[token] = /^\d+$/.test(tokens[i + 1]) ? [] : {};
    node = node[token];
  });
}

function compactArrays(value) {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(compactArrays);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, compactArrays(v)]));
  }
  return value;
}

function setError(slot, problems) {
  slot.replaceChildren();
  slot.hidden = problems.length === 0;
  const blocking = problems.some((p) => !p.reviewable);
  slot.classList.toggle("warning", !blocking && problems.length > 0);
  for (const problem of problems) {
    // problemText words a pattern problem; the hub's own text stays as a tooltip.
    const text = problemText(problem);
    append(slot, [
      h(
        "span",
        { class: "problem-line", title: problem.code === "pattern" ? problem.message : null },
        text,
        problem.reviewable ? h("em", { class: "review-note" }, ` ${t("form.staff_will_check")}`) : null,
      ),
    ]);
  }
}

function label(node, name, singular = false) {
  const title = schemaText(node, "title");
  if (title) return singular ? title.replace(/s$/, "") : title;
  return name;
}

function hint(node) {
  const description = schemaText(node, "description");
  return description ? h("p", { class: "hint" }, description) : null;
}

function requiredMark() {
  return h("span", { class: "required", title: t("form.required") }, " *");
}

function placeholder(node) {
  if (node["x-hub-date"]?.kind === "date") return "YYYY-MM-DD";
  if (node["x-hub-date"]?.kind === "date-time") return "YYYY-MM-DD HH:MM";
  return null;
}

/** An enum value with its Chinese synonym when the schema names one (FCL · 整箱). */
function enumLabel(node, value) {
  const synonyms = node["x-hub-synonyms"] ?? {};
  const chinese = Object.entries(synonyms).find(([word, target]) => target === value && /[\u3400-\u9fff]/.test(word));
  return chinese && lang() === "zh" ? `${value} · ${chinese[0]}` : String(value);
}

function formatValue(node, value) {
  const dimension = node["x-hub-quantity"]?.dimension;
  if (dimension === "weight") return `${value} kg`;
  if (dimension === "volume") return `${value} m³`;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
