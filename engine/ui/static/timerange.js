// Time range picker: relative presets (last 5m ... 7d) or an absolute from/to, and the range
// it stands for in epoch milliseconds (relative ones end now, when asked).

import { el } from "./dom.js";

export const PRESETS = ["5m", "15m", "1h", "6h", "24h", "7d"];
const UNIT_MS = { s: 1000, m: 60000, h: 3600000, d: 86400000 };

export function durationMs(text) {
  const m = /^(\d+)([smhd])$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : 3600000;
}

// {start, end} in ms for the state's range.
export function resolve(state) {
  if (state.from && state.to) {
    const start = Date.parse(state.from);
    const end = Date.parse(state.to);
    if (!Number.isNaN(start) && !Number.isNaN(end) && end > start) return { start, end };
  }
  const end = Date.now();
  return { start: end - durationMs(state.range), end };
}

export function label(state) {
  if (state.from && state.to) return `${state.from.replace("T", " ").replace("Z", "")} → ${state.to.replace("T", " ").replace("Z", "")} UTC`;
  return `last ${state.range}`;
}

const seconds = (ms) => (ms / 1000).toFixed(3);
export function apiParams(range) {
  return { start: seconds(range.start), end: seconds(range.end) };
}

// ISO without milliseconds when they are zero: shorter links.
export function iso(ms) {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

// The picker; `onPick(changes)` gets {range} or {from, to}.
export function picker(state, onPick) {
  const select = el("select", { "aria-label": "time range", id: "range" },
    PRESETS.map((p) => el("option", { value: p, text: `Last ${p}` })),
    el("option", { value: "custom", text: "Custom…" }));
  const now = resolve(state);
  const from = el("input", { type: "datetime-local", step: "1", "aria-label": "from", value: localInput(now.start) });
  const to = el("input", { type: "datetime-local", step: "1", "aria-label": "to", value: localInput(now.end) });
  const custom = el("span", { class: "custom-range", hidden: true }, from, "→", to,
    el("button", { type: "button", text: "Apply", onclick: () => {
      const a = new Date(from.value).getTime();
      const b = new Date(to.value).getTime();
      if (a < b) onPick({ from: iso(a), to: iso(b), range: state.range });
    } }));
  const isCustom = Boolean(state.from && state.to);
  select.value = isCustom ? "custom" : PRESETS.includes(state.range) ? state.range : "1h";
  custom.hidden = !isCustom;
  select.addEventListener("change", () => {
    custom.hidden = select.value !== "custom";
    if (select.value !== "custom") onPick({ range: select.value, from: "", to: "" });
  });
  return el("span", { class: "range-picker" }, select, custom);
}
