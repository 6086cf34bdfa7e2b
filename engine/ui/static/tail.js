// Live tail: `/api/v1/tail` streamed into the results as rows arrive (newest on top). While the
// reader has scrolled down, new rows wait in a buffer (the list does not move under them) and
// a bar says how many; back at the top, or a click on the bar, shows them.

import { streamNDJSON } from "./api.js";
import { el, count } from "./dom.js";

export class Tail {
  // results: the Results list; bar: an element for the "N new rows" notice; onError(err)
  constructor(results, bar, onError) {
    this.results = results;
    this.bar = bar;
    this.onError = onError;
    this.abort = null;
    this.buffer = [];
    this.received = 0;
    results.onScroll(() => { if (results.atTop()) this.flush(); });
  }

  get running() {
    return this.abort !== null;
  }

  start(query) {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    this.received = 0;
    this.show();
    streamNDJSON("/api/v1/tail", { q: query || "*" }, (batch) => this.take(batch), abort.signal)
      .then(() => { if (this.abort === abort) this.onError(new Error("the live tail ended (server shutting down?)")); })
      .catch((err) => { if (this.abort === abort && err.name !== "AbortError") this.onError(err); })
      .finally(() => { if (this.abort === abort) this.abort = null; });
  }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    this.buffer = [];
    this.show();
  }

  // A batch comes oldest first; the list is newest first.
  take(batch) {
    this.received += batch.length;
    const newestFirst = batch.slice().reverse();
    if (this.results.atTop() && !this.buffer.length) this.results.prepend(newestFirst);
    else this.buffer = newestFirst.concat(this.buffer);
    this.show();
  }

  flush() {
    if (!this.buffer.length) return;
    const rows = this.buffer;
    this.buffer = [];
    this.results.prepend(rows);
    this.results.scroller.scrollTop = 0;
    this.show();
  }

  show() {
    this.bar.hidden = !this.buffer.length;
    this.bar.replaceChildren(el("button", { type: "button", class: "link", onclick: () => this.flush(),
      text: `${count(this.buffer.length)} new row${this.buffer.length === 1 ? "" : "s"}, paused while you scroll: show them` }));
  }
}
