// DOM and formatting helpers shared by the pages: element building (text only, never HTML
// strings, so log lines cannot inject markup), times, severities and numbers.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export const SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

export function severityName(n) {
  return n === null || n === undefined ? "" : SEVERITIES[n] ?? String(n);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// "2026-11-22 10:04:05.123" in the browser's time zone; the full RFC 3339 stamp goes in a title.
export function shortTime(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339 ?? "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(rfc3339) {
  const s = Math.max(0, (Date.now() - new Date(rfc3339).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const count = (n) => Number(n).toLocaleString("en-US");

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}
