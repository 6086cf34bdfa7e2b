// Query text: the filter part of a query (before its first top-level `|`), and `field:value`
// terms added to it from a click (quoted as the query language wants, or negated).

const BARE = /^[A-Za-z0-9_.@-]+$/;
const NAME = /^[A-Za-z0-9_.@-]+$/;
const KEYWORDS = new Set(["and", "or", "not", "to"]);

// Index of the first `|` outside quotes and regexes, or -1.
export function stageStart(q) {
  let inQuote = false;
  let inRegex = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if ((inQuote || inRegex) && c === "\\") {
      i++;
      continue;
    }
    if (inQuote) {
      if (c === '"') inQuote = false;
    } else if (inRegex) {
      if (c === "/") inRegex = false;
    } else if (c === '"') {
      inQuote = true;
    } else if (c === "/" && (i === 0 || /[\s:(!-]/.test(q[i - 1]))) {
      inRegex = true;
    } else if (c === "|") {
      return i;
    }
  }
  return -1;
}

export function filterPart(q) {
  const at = stageStart(q);
  return (at < 0 ? q : q.slice(0, at)).trim();
}

export function stagesPart(q) {
  const at = stageStart(q);
  return at < 0 ? "" : q.slice(at).trim();
}

// Whether the query's stages aggregate (its answer is groups, not rows).
export function aggregates(q) {
  return /\|\s*(stats|top|histogram)\b/i.test(stagesPart(q));
}

export function canFilter(field) {
  return NAME.test(field);
}

export function literal(value) {
  const s = String(value);
  if (BARE.test(s) && !KEYWORDS.has(s.toLowerCase()) && !s.startsWith("-")) return s;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r")}"`;
}

// `field:value` (`-field:value` negated); a missing value (null) is `-field:*` (`field:*`).
export function term(field, value, negate = false) {
  if (value === null || value === undefined) return negate ? `${field}:*` : `-${field}:*`;
  return `${negate ? "-" : ""}${field}:${literal(value)}`;
}

// The query with `t` added to its filter (stages kept after it); a term already there is not doubled.
export function addTerm(q, t) {
  const filter = filterPart(q);
  const stages = stagesPart(q);
  if (filter.split(/\s+/).includes(t)) return q;
  const base = /(^|\s)or(\s|$)/i.test(filter) ? `(${filter})` : filter;
  const next = filter && filter !== "*" ? `${base} ${t}` : t;
  return stages ? `${next} ${stages}` : next;
}
