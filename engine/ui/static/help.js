// The query language at a glance (the grammar of engine/query/language/parser.py), shown in a
// panel next to the query box; the full reference is docs/query.md in the repository.

import { el } from "./dom.js";

const GRAMMAR = [
  ["error", "a word of the message (whole token, any case)"],
  ['"connection reset"', "an exact phrase (case-sensitive)"],
  ["host:web-1  app:sshd", "a field's value; field names: host, app, procid, msgid, source, severity, facility, format, message, or any key=value / JSON key"],
  ["fail*  host:web*", "a prefix"],
  ["/time(d)?out/i", "a regular expression (i: any case)"],
  ["user:*", "the field is present"],
  ["duration_ms:>500  [10 TO 20]", "comparisons and ranges (numbers, times)"],
  ["severity:err  facility:auth", "syslog names for severities and facilities"],
  ["a b  a AND b  a OR b  NOT a  -a  (a OR b) c", "boolean logic; side by side means AND"],
  ["| stats count() by (host)", "aggregate; also count_uniq(f), sum(f), avg(f), min(f), max(f), quantile(0.99, f)"],
  ["| top 5 by (app)", "the most frequent values"],
  ["| histogram(1m)", "rows per time bucket"],
  ["| sort by (_time asc)  | limit 10  | fields host, message", "order, cut and pick fields"],
  ['| extract "from <ip> port <port> "', "cut fields out of the message at query time (also extract_regexp, unpack_json, unpack_logfmt)"],
  ["| math duration_ms / 1000 as secs  | filter secs:>1", "compute fields; filter on any field, made ones included"],
];

export function helpPanel() {
  return el("aside", { class: "help", id: "help", hidden: true, "aria-label": "query language help" },
    el("h3", { text: "Query language" }),
    el("table", {}, GRAMMAR.map(([q, what]) => el("tr", {}, el("td", {}, el("code", { text: q })), el("td", { text: what })))),
    el("p", { class: "muted" }, "Keys: ", el("kbd", { text: "/" }), " search, ", el("kbd", { text: "Enter" }), " run, ",
      el("kbd", { text: "Esc" }), " close. Full reference: docs/query.md in the logjet repository; the grammar is in engine/query/language/parser.py."));
}
