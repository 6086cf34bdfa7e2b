// Alerts page: firing, pending and silenced alerts with their labels and since when, the rules
// with their current counts, and silences (made from an alert in one click with a duration
// and a comment, listed, expired). Refreshes every few seconds while shown.

import { getJSON, sendJSON } from "./api.js";
import { ago, clear, count, el } from "./dom.js";

const REFRESH_MS = 5000;
const DURATIONS = ["1h", "2h", "4h", "1d", "7d"];

function labels(obj, skip = []) {
  return el("span", { class: "labels" }, Object.entries(obj).filter(([k]) => !skip.includes(k))
    .map(([k, v]) => el("span", { class: "label", text: `${k}=${v}` })));
}

// A table with these headers; on a phone its cells stack, each showing its header (CSS).
function grid(headers, rows) {
  for (const row of rows) [...row.children].forEach((td, i) => { if (headers[i]) td.dataset.label = headers[i]; });
  return el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))), el("tbody", {}, rows));
}

function since(stamp) {
  return el("time", { datetime: stamp, title: stamp, text: ago(stamp) });
}

export class AlertsPage {
  constructor(root) {
    this.root = root;
    this.message = el("div", { class: "page-message", role: "status" });
    this.alertsBox = el("div", { id: "alerts" });
    this.rulesBox = el("div", { id: "rules" });
    this.silencesBox = el("div", { id: "silences" });
    this.openForm = null; // fingerprint of the alert whose silence form is open
    clear(root, el("section", { class: "alerts-page" }, this.message,
      el("h2", { text: "Alerts" }), this.alertsBox,
      el("h2", { text: "Silences" }), this.silencesBox,
      el("h2", { text: "Rules" }), this.rulesBox));
    this.timer = null;
  }

  async run() {
    clearTimeout(this.timer);
    await this.refresh();
    this.timer = setTimeout(() => this.run(), REFRESH_MS);
  }

  leave() {
    clearTimeout(this.timer);
  }

  say(text, error = false) {
    this.message.className = error ? "page-message error" : "page-message ok";
    this.message.textContent = text;
  }

  async refresh() {
    let alerts, rules, silences;
    try {
      [alerts, rules, silences] = await Promise.all([
        getJSON("/api/v1/alerts"), getJSON("/api/v1/rules"), getJSON("/api/v1/silences")]);
    } catch (err) {
      this.say(err.plain ?? err.message, true);
      return;
    }
    if (this.openForm === null) this.showAlerts(alerts.alerts);
    this.showSilences(silences.silences);
    this.showRules(rules.rules);
  }

  showAlerts(alerts) {
    if (!alerts.length) {
      clear(this.alertsBox, el("p", { class: "muted", text: "Nothing firing or pending." }));
      return;
    }
    const rows = alerts.map((a) => {
      const summary = a.annotations?.summary ?? a.annotations?.description ?? "";
      const cell = el("td", { class: "act" },
        el("button", { type: "button", class: "silence-button", text: "Silence…",
          onclick: () => this.silenceForm(a, cell) }));
      return el("tr", { class: `alert state-${a.state}`, dataset: { rule: a.rule, fingerprint: a.fingerprint } },
        el("td", {}, el("span", { class: `badge badge-${a.state}`, text: a.state })),
        el("td", {}, el("b", { text: a.rule }), summary ? el("div", { class: "muted", text: summary }) : null),
        el("td", {}, labels(a.labels, ["alertname"])),
        el("td", {}, since(a.startsAt)),
        el("td", { class: "num", text: count(a.value) }),
        cell);
    });
    clear(this.alertsBox, grid(["state", "rule", "labels", "since", "value", ""], rows));
  }

  // The one-click silence: every label of the alert, a duration and a comment.
  silenceForm(alert, cell) {
    this.openForm = alert.fingerprint;
    const duration = el("select", { "aria-label": "duration" }, DURATIONS.map((d) => el("option", { value: d, text: d })));
    const comment = el("input", { type: "text", "aria-label": "comment", placeholder: "why (e.g. maintenance)" });
    const form = el("form", { class: "silence-form", onsubmit: async (e) => {
      e.preventDefault();
      const matchers = Object.entries(alert.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }));
      try {
        const made = await sendJSON("POST", "/api/v1/silences", {
          matchers, duration: duration.value, comment: comment.value, createdBy: "web UI" });
        this.say(`Silenced ${alert.rule} for ${duration.value} (silence ${made.silenceID}).`);
      } catch (err) {
        this.say(err.plain ?? err.message, true);
      }
      this.openForm = null;
      await this.refresh();
    } },
    duration, comment,
    el("button", { type: "submit", class: "primary", text: "Silence" }),
    el("button", { type: "button", text: "Cancel", onclick: () => { this.openForm = null; this.refresh(); } }));
    clear(cell, form);
    comment.focus();
  }

  showSilences(silences) {
    if (!silences.length) {
      clear(this.silencesBox, el("p", { class: "muted", text: "No silences." }));
      return;
    }
    const rows = silences.slice().reverse().map((s) => {
      const state = s.status.state;
      return el("tr", { class: `silence state-${state}`, dataset: { id: s.id } },
        el("td", {}, el("span", { class: `badge badge-${state}`, text: state })),
        el("td", {}, s.matchers.map((m) => el("span", { class: "label",
          text: `${m.name}${m.isEqual ? "" : "!"}${m.isRegex ? "=~" : "="}${m.value}` }))),
        el("td", {}, el("time", { datetime: s.endsAt, title: s.endsAt,
          text: state === "expired" ? `ended ${ago(s.endsAt)}` : `until ${new Date(s.endsAt).toLocaleString()}` })),
        el("td", { text: s.comment || "" }),
        el("td", { class: "muted", text: s.createdBy || "" }),
        el("td", { class: "act" }, state === "expired" ? null : el("button", { type: "button", class: "expire-button",
          text: "Expire", onclick: () => this.expire(s) })));
    });
    clear(this.silencesBox, grid(["state", "matchers", "ends", "comment", "by", ""], rows));
  }

  async expire(s) {
    try {
      await sendJSON("DELETE", `/api/v1/silences/${encodeURIComponent(s.id)}`);
      this.say(`Silence ${s.id} expired.`);
    } catch (err) {
      this.say(err.plain ?? err.message, true);
    }
    await this.refresh();
  }

  showRules(rules) {
    if (!rules.length) {
      clear(this.rulesBox, el("p", { class: "muted", text: "No alert rules loaded (see alerts.rules_file)." }));
      return;
    }
    clear(this.rulesBox, grid(["rule", "matches", "fires at", "firing", "counts now"],
      rules.map((r) => el("tr", { class: "rule", dataset: { rule: r.name } },
        el("td", {}, el("b", { text: r.name }), el("div", { class: "muted", text: r.severity })),
        el("td", {}, el("code", { text: r.pattern ?? r.query ?? "" }), r.where ? el("div", { class: "muted", text: `where ${r.where}` }) : null),
        el("td", { text: r.kind === "absence" ? `none in ${r.window}` : `${count(r.threshold)} in ${r.window}` }),
        el("td", { class: "num", text: String(r.firing) }),
        el("td", {}, r.groups.length ? r.groups.slice(0, 5).map((g) => el("div", {},
          labels(g.group), " ", el("b", { text: count(g.count) }))) : el("span", { class: "muted", text: "0" }))))));
  }
}
