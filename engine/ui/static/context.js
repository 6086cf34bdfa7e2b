// "Show context": the lines around a row from the same host and app, in arrival order
// (/api/v1/context), in a dialog with the row itself marked; "more" widens it. Esc closes.

import { queryJSON } from "./api.js";
import { el, severityName, shortTime } from "./dom.js";

const FIRST = 20;
const MAX = 1000;

let dialog = null;

function ensureDialog() {
  if (dialog) return dialog;
  dialog = el("dialog", { class: "dialog context", id: "context-dialog", "aria-label": "context" });
  document.body.append(dialog);
  dialog.addEventListener("click", (e) => { if (e.target === dialog) dialog.close(); });
  return dialog;
}

function line(row, hit) {
  const sev = severityName(row.severity);
  return el("div", { class: hit ? "ctx-line hit" : "ctx-line" },
    el("time", { class: "t", datetime: row._time, title: `${row._time} (received ${row._recv})`, text: shortTime(row._time) }),
    el("span", { class: `sev sev-${sev || "none"}`, text: sev || "—" }),
    el("span", { class: "msg", text: row.message ?? "" }));
}

export async function showContext(row, around = FIRST) {
  const d = ensureDialog();
  const body = el("div", { class: "ctx-body" }, el("p", { class: "muted", text: "loading…" }));
  const title = el("h2", { text: `Context: ${row.host ?? "(no host)"} / ${row.app ?? "(no app)"}` });
  d.replaceChildren(el("div", { class: "dialog-head" }, title,
    el("button", { type: "button", class: "close", "aria-label": "close", text: "×", onclick: () => d.close() })), body);
  if (!d.open) d.showModal();
  let ctx;
  try {
    ctx = await queryJSON("/api/v1/context", { row: row._id, before: around, after: around });
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", text: err.plain ?? err.message }));
    return;
  }
  const lines = ctx.rows.map((r, i) => line(r, i === ctx.hit));
  const more = around < MAX && (ctx.hit >= around || ctx.rows.length - ctx.hit - 1 >= around)
    ? el("button", { type: "button", text: "More lines", onclick: () => showContext(row, Math.min(MAX, around * 5)) })
    : null;
  body.replaceChildren(
    el("p", { class: "muted", text: `${ctx.hit} before, ${ctx.rows.length - ctx.hit - 1} after, in arrival order` }),
    el("div", { class: "ctx-lines" }, lines), more);
  lines[ctx.hit]?.scrollIntoView({ block: "center" });
}
