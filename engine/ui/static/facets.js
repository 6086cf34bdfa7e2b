// Side facets: the top values of host, app, severity and of the fields most present in the
// rows shown, each from one `| top N by (field)` query over the same filter and range. A
// click adds `field:value` to the query; the − button (or Alt-click) excludes it.

import { fetchNDJSON } from "./api.js";
import { el, count, severityName } from "./dom.js";
import { canFilter } from "./query.js";

const FIXED = ["host", "app", "severity"];
const TOP_N = 5;
const MORE_FIELDS = 4;

// Field keys most often present in `rows` (row objects), the fixed ones left out.
export function presentFields(rows) {
  const seen = new Map();
  for (const row of rows.slice(0, 2000)) {
    for (const k of Object.keys(row.fields ?? {})) seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen.entries()].filter(([k]) => canFilter(k) && !FIXED.includes(k))
    .sort((a, b) => b[1] - a[1]).slice(0, MORE_FIELDS).map(([k]) => k);
}

export class Facets {
  constructor(container, onTerm) {
    this.container = container;
    this.onTerm = onTerm;
    this.generation = 0;
  }

  clear() {
    this.generation++;
    this.container.replaceChildren();
  }

  // filter: the query's filter part; params: {start, end}; fields: extra field keys.
  async load(filter, params, fields, signal) {
    const gen = ++this.generation;
    const names = [...FIXED, ...fields];
    const boxes = names.map((name) => el("section", { class: "facet", dataset: { field: name } },
      el("h3", { text: name }), el("p", { class: "muted", text: "…" })));
    this.container.replaceChildren(...boxes);
    await Promise.all(names.map(async (name, k) => {
      let groups;
      try {
        groups = await fetchNDJSON("/api/v1/query", { q: `${filter || "*"} | top ${TOP_N} by (${name})`, ...params }, signal);
      } catch (err) {
        if (err.name === "AbortError") return;
        groups = err;
      }
      if (gen !== this.generation) return;
      boxes[k].replaceChildren(el("h3", { text: name }), this.list(name, groups));
    }));
  }

  list(name, groups) {
    if (groups instanceof Error) return el("p", { class: "error", text: groups.plain ?? groups.message });
    if (!groups.length) return el("p", { class: "muted", text: "no values" });
    const max = Math.max(...groups.map((g) => g.count));
    return el("ul", {}, groups.map((g) => {
      const raw = g[name];
      const value = name === "severity" && raw !== null ? severityName(raw) : raw;
      const shown = value === null || value === undefined ? "(none)" : String(value);
      const meter = el("span", { class: "meter" });
      meter.style.width = `${Math.round((g.count / max) * 100)}%`;
      return el("li", {},
        el("button", { type: "button", class: "facet-value", title: `${name}:${shown} (Alt-click: exclude)`,
          onclick: (e) => this.onTerm(name, value ?? null, e.altKey) },
        meter, el("span", { class: "fv", text: shown }), el("span", { class: "fc", text: count(g.count) })),
        el("button", { type: "button", class: "mini", title: `exclude ${name}:${shown}`, "aria-label": `exclude ${shown}`,
          text: "−", onclick: () => this.onTerm(name, value ?? null, true) }));
    }));
  }
}
