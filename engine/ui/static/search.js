// Search page: the query box (errors shown at their position), time range, histogram, facets,
// results and live tail, wired to the URL state. Each run asks for the rows, then the
// histogram (which gives the hit count), then the facets; a newer run aborts an older one.

import { fetchNDJSON, ApiError } from "./api.js";
import { el, clear, count } from "./dom.js";
import { Facets, presentFields } from "./facets.js";
import { helpPanel } from "./help.js";
import { Histogram, stepFor } from "./histogram.js";
import { addTerm, aggregates, filterPart, term } from "./query.js";
import { Results } from "./results.js";
import * as state from "./state.js";
import { Tail } from "./tail.js";
import { apiParams, iso, label, picker, resolve } from "./timerange.js";
import { showContext } from "./context.js";

// The query text with a caret under `position` and the message: where the language stopped.
function errorView(q, err) {
  if (err.position === null || err.position === undefined) return el("p", { class: "error", text: err.plain ?? err.message });
  const at = Math.min(err.position, q.length);
  return el("div", { class: "qerror-box" },
    el("pre", { class: "qerror-text" }, q.slice(0, at), el("mark", { text: q.slice(at, at + 1) || " " }), q.slice(at + 1)),
    el("pre", { class: "qerror-caret", text: `${" ".repeat(at)}^` }),
    el("p", { class: "error", text: `${err.message} (at position ${err.position})` }));
}

export class SearchPage {
  constructor(root) {
    this.root = root;
    this.abort = null;
    this.input = el("input", { id: "q", type: "search", class: "q", autocomplete: "off", spellcheck: "false",
      placeholder: "Search: error host:web-1 -app:cron | histogram(1m)   (press / to focus)", "aria-label": "query" });
    this.limit = el("select", { id: "limit", "aria-label": "rows" },
      [100, 1000, 10000].map((n) => el("option", { value: String(n), text: `${count(n)} rows` })));
    this.tailBox = el("input", { type: "checkbox", id: "tail" });
    this.help = helpPanel();
    this.rangeSlot = el("span", { class: "range-slot" });
    this.qerror = el("div", { class: "qerror", id: "qerror", hidden: true });
    this.hits = el("span", { id: "hits", class: "hits" });
    this.rangeLabel = el("span", { id: "range-label", class: "muted" });
    this.timing = el("span", { id: "timing", class: "muted" });
    this.tailBar = el("div", { id: "tail-bar", class: "tail-bar", hidden: true });
    this.histoBox = el("div", { id: "histogram", class: "histo" });
    this.facetBox = el("aside", { id: "facets", class: "facets", "aria-label": "facets" });
    this.resultsBox = el("div", { id: "results", class: "results-box" });
    const form = el("form", { class: "querybar", role: "search", onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      el("div", { class: "qwrap" }, this.input),
      this.rangeSlot,
      this.limit,
      el("label", { class: "tail-toggle", title: "stream new rows as they arrive" }, this.tailBox, " Live"),
      el("button", { type: "submit", class: "primary", text: "Run" }),
      el("button", { type: "button", class: "help-toggle", "aria-controls": "help", title: "query language help", text: "?",
        onclick: () => { this.help.hidden = !this.help.hidden; } }));
    clear(root, el("section", { class: "search-page" },
      form, this.qerror, this.help,
      el("div", { class: "status-line" }, this.hits, this.rangeLabel, this.timing),
      this.histoBox,
      el("div", { class: "body" }, this.facetBox, el("section", { class: "results-wrap" }, this.tailBar, this.resultsBox))));
    const onTerm = (field, value, negate) => this.addFilter(field, value, negate);
    this.histogram = new Histogram(this.histoBox, (t0, t1) => state.update({ from: iso(t0), to: iso(t1) }));
    this.facets = new Facets(this.facetBox, onTerm);
    this.results = new Results(this.resultsBox, { onTerm, onContext: (row) => showContext(row) });
    this.tail = new Tail(this.results, this.tailBar, (err) => this.showTailError(err));
    this.tailBox.addEventListener("change", () => state.update({ tail: this.tailBox.checked }));
    this.limit.addEventListener("change", () => state.update({ limit: Number(this.limit.value) }));
  }

  submit() {
    const q = this.input.value.trim();
    const s = state.read();
    // The same query again (Enter on an unchanged box) runs again: new rows may have come.
    if (q === s.q) this.run(s);
    else state.update({ q });
  }

  addFilter(field, value, negate) {
    const s = state.read();
    state.update({ q: addTerm(s.q, term(field, value, negate)) });
  }

  focus() {
    this.input.focus();
    this.input.select();
  }

  escape() {
    if (!this.help.hidden) {
      this.help.hidden = true;
      return true;
    }
    return this.results.collapseAll();
  }

  showTailError(err) {
    this.tailBar.hidden = false;
    this.tailBar.replaceChildren(el("p", { class: "error", text: `Live tail stopped: ${err.plain ?? err.message}` }));
  }

  async run(s) {
    if (this.abort) this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    const { signal } = abort;
    this.input.value = s.q;
    this.limit.value = String(s.limit);
    this.tailBox.checked = s.tail;
    this.rangeSlot.replaceChildren(picker(s, (changes) => state.update(changes)));
    this.rangeLabel.textContent = label(s);
    this.qerror.hidden = true;
    this.hits.textContent = "searching…";
    delete this.hits.dataset.total;
    delete document.body.dataset.rendered;
    this.timing.textContent = "";
    this.facets.clear();
    const range = resolve(s);
    const params = apiParams(range);
    const q = s.q || "*";
    const filter = filterPart(s.q) || "*";
    const grouped = aggregates(s.q);
    if (s.tail && !grouped) this.tail.start(s.q);
    else this.tail.stop();
    const t0 = performance.now();
    let rows;
    try {
      rows = await fetchNDJSON("/api/v1/query", { q, ...params, limit: String(s.limit) }, signal);
    } catch (err) {
      if (err.name === "AbortError" || signal.aborted) return;
      this.fail(s.q, err);
      return;
    }
    if (signal.aborted) return;
    const fetched = performance.now();
    performance.mark("logjet:rows-start");
    this.results.set(rows, grouped);
    requestAnimationFrame(() => setTimeout(() => {
      performance.measure("logjet:render", "logjet:rows-start");
      document.body.dataset.rendered = String(rows.length);
    }, 0));
    this.timing.textContent = `${count(rows.length)} ${grouped ? "groups" : "rows"} in ${Math.round(fetched - t0)} ms`;
    const [step, stepMs] = stepFor(range);
    try {
      const buckets = await fetchNDJSON("/api/v1/query", { q: `${filter} | histogram(${step})`, ...params }, signal);
      if (signal.aborted) return;
      const total = buckets.reduce((n, b) => n + b.count, 0);
      this.histogram.render(buckets, range, stepMs);
      this.hits.textContent = `${count(total)} hits` + (!grouped && total > rows.length ? `, newest ${count(rows.length)} shown` : "");
      this.hits.dataset.total = String(total);
    } catch (err) {
      if (err.name === "AbortError" || signal.aborted) return;
      this.hits.textContent = err.plain ?? err.message;
    }
    await this.facets.load(filter, params, grouped ? [] : presentFields(rows), signal);
  }

  fail(q, err) {
    this.hits.textContent = "";
    delete this.hits.dataset.total;
    this.histogram.clear();
    this.results.set([]);
    this.qerror.hidden = false;
    this.qerror.replaceChildren(err instanceof ApiError ? errorView(q, err) : el("p", { class: "error", text: String(err) }));
  }

  leave() {
    if (this.abort) this.abort.abort();
    this.tail.stop();
  }
}
