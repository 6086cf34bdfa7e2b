// URL state: what the page shows lives in the query string (view, q, range or from/to, tail,
// limit), so a link reproduces the view. Reading gives defaults; writing replaces or pushes
// a history entry and tells the listeners.

export const DEFAULTS = { view: "search", q: "", range: "1h", from: "", to: "", tail: false, limit: 1000 };
const LIMITS = [100, 1000, 10000];

export function read() {
  const p = new URLSearchParams(location.search);
  const limit = Number(p.get("limit"));
  return {
    view: p.get("view") === "alerts" ? "alerts" : "search",
    q: p.get("q") ?? DEFAULTS.q,
    range: p.get("range") || DEFAULTS.range,
    from: p.get("from") || "",
    to: p.get("to") || "",
    tail: p.get("tail") === "1",
    limit: LIMITS.includes(limit) ? limit : DEFAULTS.limit,
  };
}

function toSearch(state) {
  const p = new URLSearchParams();
  if (state.view !== "search") p.set("view", state.view);
  if (state.q) p.set("q", state.q);
  if (state.from && state.to) {
    p.set("from", state.from);
    p.set("to", state.to);
  } else if (state.range !== DEFAULTS.range) {
    p.set("range", state.range);
  }
  if (state.tail) p.set("tail", "1");
  if (state.limit !== DEFAULTS.limit) p.set("limit", String(state.limit));
  const s = p.toString();
  return s ? `?${s}` : location.pathname;
}

const listeners = [];
export function onChange(fn) {
  listeners.push(fn);
}

// Merge `changes` into the state; `push` makes a new history entry (Back returns to the old view).
export function update(changes, { push = true } = {}) {
  const next = { ...read(), ...changes };
  const url = toSearch(next);
  if (url === location.search || (url === location.pathname && !location.search)) return next;
  history[push ? "pushState" : "replaceState"](null, "", url);
  listeners.forEach((fn) => fn(next));
  return next;
}

window.addEventListener("popstate", () => listeners.forEach((fn) => fn(read())));
