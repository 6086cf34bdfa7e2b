// Results list with virtual scrolling: only the rows in view (and a few around) are in the
// DOM, so 10,000 rows scroll as smoothly as 10. Rows are one line each until clicked; an
// expanded row lists every field, where a value click adds `field:value` to the query (Alt-click
// or the − button: its negation) and "show context" asks for the lines around it.

import { el, severityName, shortTime } from "./dom.js";
import { canFilter } from "./query.js";

const ROW_H = 26;
const OVERSCAN = 10;
const MAX_ROWS = 20000; // a tail left running drops its oldest rows past this

// [label, query field name or null (not filterable), value] of every field of a row object.
function fieldsOf(row) {
  const out = [];
  const col = (name, value, field = name) => out.push([name, field, value]);
  col("_time", row._time, null);
  col("_recv", row._recv, null);
  col("severity", row.severity === null ? null : `${severityName(row.severity)} (${row.severity})`, "severity");
  col("facility", row.facility);
  for (const name of ["host", "app", "procid", "msgid", "format", "source"]) col(name, row[name]);
  col("message", row.message);
  for (const [k, v] of Object.entries(row.fields ?? {})) col(k, v, canFilter(k) ? k : null);
  for (const [id, params] of Object.entries(row.sd ?? {})) {
    for (const [k, v] of Object.entries(params)) col(`${id}.${k}`, v, canFilter(`${id}.${k}`) ? `${id}.${k}` : null);
  }
  for (const a of row._alerts ?? []) col("alert", a);
  if (row._flags) col("_flags", row._flags.join(", "), null);
  col("_id", row._id, null);
  return out;
}

// The value a filter on this field wants (severity by name).
function filterValue(row, field, shown) {
  if (field === "severity") return severityName(row.severity);
  return shown;
}

export class Results {
  // onTerm(field, value, negate); onContext(row)
  constructor(container, { onTerm, onContext }) {
    this.onTerm = onTerm;
    this.onContext = onContext;
    this.scroller = el("div", { class: "results", tabindex: "-1" });
    this.spacer = el("div", { class: "spacer" });
    this.scroller.append(this.spacer);
    container.replaceChildren(this.scroller);
    this.rows = [];
    this.objects = false; // aggregation results: plain objects, not log rows
    this.expanded = new Map(); // index -> height when expanded
    this.nodes = new Map(); // index -> rendered node
    this.scroller.addEventListener("scroll", () => this.paint());
    new ResizeObserver(() => this.paint()).observe(this.scroller);
  }

  atTop() {
    return this.scroller.scrollTop < 4;
  }

  onScroll(fn) {
    this.scroller.addEventListener("scroll", fn);
  }

  set(rows, objects = false) {
    this.rows = rows;
    this.objects = objects;
    this.expanded.clear();
    this.reset();
    this.scroller.scrollTop = 0;
    this.paint();
  }

  // Newer rows (newest first) on top, as a live tail brings them.
  prepend(rows) {
    if (!rows.length) return;
    this.rows = rows.concat(this.rows).slice(0, MAX_ROWS);
    const moved = new Map();
    for (const [i, h] of this.expanded) if (i + rows.length < this.rows.length) moved.set(i + rows.length, h);
    this.expanded = moved;
    this.reset();
    this.paint();
  }

  reset() {
    for (const node of this.nodes.values()) node.remove();
    this.nodes.clear();
  }

  extraBefore(i) {
    let extra = 0;
    for (const [j, h] of this.expanded) if (j < i) extra += h - ROW_H;
    return extra;
  }

  top(i) {
    return i * ROW_H + this.extraBefore(i);
  }

  total() {
    return this.top(this.rows.length);
  }

  // The row at pixel y (binary search over row tops).
  indexAt(y) {
    let lo = 0;
    let hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.top(mid) <= y) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
  }

  paint(depth = 0) {
    this.spacer.style.height = `${this.total()}px`;
    if (!this.rows.length) {
      this.reset();
      return;
    }
    const y = this.scroller.scrollTop;
    const first = Math.max(0, this.indexAt(y) - OVERSCAN);
    const last = Math.min(this.rows.length - 1, this.indexAt(y + this.scroller.clientHeight) + OVERSCAN);
    for (const [i, node] of this.nodes) {
      if (i < first || i > last) {
        node.remove();
        this.nodes.delete(i);
      }
    }
    let remeasure = false;
    for (let i = first; i <= last; i++) {
      let node = this.nodes.get(i);
      if (!node) {
        node = this.objects ? this.objectRow(this.rows[i]) : this.logRow(i);
        this.nodes.set(i, node);
        this.spacer.append(node);
      }
      node.style.top = `${this.top(i)}px`;
      if (this.expanded.has(i)) {
        const h = node.offsetHeight;
        if (h !== this.expanded.get(i)) {
          this.expanded.set(i, h);
          remeasure = true;
        }
      }
    }
    if (remeasure && depth < 3) this.paint(depth + 1);
  }

  toggle(i) {
    if (this.expanded.has(i)) this.expanded.delete(i);
    else this.expanded.set(i, ROW_H * 8);
    const node = this.nodes.get(i);
    if (node) {
      node.remove();
      this.nodes.delete(i);
    }
    this.paint();
  }

  collapseAll() {
    if (!this.expanded.size) return false;
    this.expanded.clear();
    this.reset();
    this.paint();
    return true;
  }

  logRow(i) {
    const row = this.rows[i];
    const sev = severityName(row.severity);
    const summary = el("div", { class: "summary", role: "button", tabindex: "0", "aria-expanded": String(this.expanded.has(i)),
      onclick: () => this.toggle(i),
      onkeydown: (e) => { if (e.key === "Enter") this.toggle(i); } },
      el("time", { class: "t", datetime: row._time, title: row._time, text: shortTime(row._time) }),
      el("span", { class: `sev sev-${sev || "none"}`, text: sev || "—" }),
      el("span", { class: "host", text: row.host ?? "" }),
      el("span", { class: "app", text: row.app ?? "" }),
      el("span", { class: "msg", text: row.message ?? "" }));
    const node = el("div", { class: "row", dataset: { i: String(i) } }, summary);
    if (this.expanded.has(i)) {
      node.classList.add("open");
      node.append(this.details(row));
    }
    return node;
  }

  details(row) {
    const table = el("table", { class: "fields" });
    for (const [name, field, value] of fieldsOf(row)) {
      const shown = value === null || value === undefined ? "" : String(value);
      const fv = field ? filterValue(row, field, value) : null;
      const valueCell = field && value !== null && value !== undefined
        ? el("button", { type: "button", class: "value link", title: `add ${field}:… (Alt-click: exclude)`, text: shown,
          onclick: (e) => this.onTerm(field, fv, e.altKey) })
        : el("span", { class: "value", text: shown || "—" });
      const actions = field ? el("td", { class: "act" },
        el("button", { type: "button", class: "mini", title: `only rows with ${field} = this`, "aria-label": `filter ${name}`,
          text: "+", onclick: () => this.onTerm(field, fv, false) }),
        el("button", { type: "button", class: "mini", title: `rows without this ${field}`, "aria-label": `exclude ${name}`,
          text: "−", onclick: () => this.onTerm(field, fv, true) })) : el("td", { class: "act" });
      table.append(el("tr", { dataset: { field: name } }, el("th", { text: name }), el("td", {}, valueCell), actions));
    }
    return el("div", { class: "details" },
      el("div", { class: "details-actions" },
        el("button", { type: "button", class: "context-button", text: "Show context",
          onclick: () => this.onContext(row) })),
      table);
  }

  objectRow(obj) {
    return el("div", { class: "row object" }, el("div", { class: "summary" },
      Object.entries(obj).map(([k, v]) => el("span", { class: "pair" },
        el("b", { text: `${k} ` }), typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)))));
  }
}
