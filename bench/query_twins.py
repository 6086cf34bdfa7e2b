"""The query suite of `logjet bench query --peer victorialogs`: each query written twice, in
logjet's language and in LogsQL, with the same meaning, and what kind of answer both give.

Same meaning, said once here (docs/query.md has logjet's side):

- a word on the message: logjet's bare word is case-insensitive, LogsQL's case-sensitive. The
  "any case" twins are `word` / `i(word)`, the "exact case" twins `"word"` / `word` (a quoted
  word in logjet is a phrase: case-sensitive, on token boundaries, as LogsQL's word is);
- a phrase: `"a b"` in both, case-sensitive, on token boundaries;
- a prefix: `pre*` / `i(pre*)` (any case), `"Pre"*` / `Pre*` (exact case);
- a field value: logjet's `field:value` is the whole value; LogsQL's is a word in the value, so
  its twin is `field:=value`, or the stream filter `{field="value"}` for the stream fields
  (host, app: bench/peers/victorialogs.py), VictoriaLogs' fastest form;
- a regex: logjet `message:/re/` (Python `re`), LogsQL `_msg:~"re"` (RE2), both unanchored; the
  suite's regexes mean the same in both dialects;
- numbers: `field:>N` in both (values that are numbers as a whole);
- counts are `stats count() as n` in both; logjet's `histogram(1m)` is LogsQL's
  `stats by (_time:1m) count()`; latest N is the query with limit N (both newest first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.peers.victorialogs import STREAM_FIELDS

ALL = "all"
LAST_5M = "last 5m"


@dataclass(frozen=True)
class Filter:
    """One filter in both languages; `stream` holds LogsQL stream-filter terms (`app="x"`),
    kept apart so that filters ANDed together share one `{...}`."""

    logjet: str
    logsql: str = ""
    stream: tuple[str, ...] = ()

    def logsql_text(self) -> str:
        parts = ["{" + ",".join(self.stream) + "}"] if self.stream else []
        if self.logsql:
            parts.append(self.logsql)
        return " ".join(parts) or "*"


@dataclass(frozen=True)
class Twin:
    """A query of the suite: `answer` is "count", "groups" (with `by`), "buckets" or "rows"."""

    name: str
    logjet: str
    logsql: str
    answer: str
    window: str = ALL
    by: tuple[str, ...] = ()
    limit: int | None = None


def quote(text: str) -> str:
    """A double-quoted string both languages read back as `text`."""
    return json.dumps(text, ensure_ascii=False)


def _bare(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "_-." for c in text)


def _value(text: str) -> str:
    return text if _bare(text) else quote(text)


def everything() -> Filter:
    return Filter("*", "*")


def word(w: str, any_case: bool = True) -> Filter:
    if any_case:
        return Filter(_value(w), f"i({_value(w)})")
    return Filter(quote(w), _value(w))


def phrase(p: str) -> Filter:
    return Filter(quote(p), quote(p))


def prefix(p: str, any_case: bool = True) -> Filter:
    if any_case:
        return Filter(f"{p}*", f"i({p}*)")
    return Filter(f"{quote(p)}*", f"{p}*")


def regex(pattern: str) -> Filter:
    if "/" in pattern:
        raise ValueError(f"a / in {pattern!r} would end logjet's /regex/")
    return Filter(f"message:/{pattern}/", f"_msg:~{quote(pattern)}")


def field_is(field: str, value: str) -> Filter:
    if field in STREAM_FIELDS:
        return Filter(f"{field}:{_value(value)}", stream=(f"{field}={quote(value)}",))
    return Filter(f"{field}:{_value(value)}", f"{field}:={_value(value)}")


def greater(field: str, n: int | float) -> Filter:
    return Filter(f"{field}:>{n}", f"{field}:>{n}")


def both(*filters: Filter) -> Filter:
    """The AND of `filters`."""
    return Filter(
        " ".join(f.logjet for f in filters),
        " ".join(f.logsql for f in filters if f.logsql and f.logsql != "*"),
        tuple(s for f in filters for s in f.stream),
    )


def count(name: str, f: Filter, window: str = ALL) -> Twin:
    return Twin(name, f"{f.logjet} | stats count() as n", f"{f.logsql_text()} | stats count() as n", "count", window)


def count_by(name: str, f: Filter, *fields: str) -> Twin:
    by = ", ".join(fields)
    return Twin(
        name,
        f"{f.logjet} | stats count() as n by ({by})",
        f"{f.logsql_text()} | stats by ({by}) count() as n",
        "groups",
        by=fields,
    )


def histogram(name: str, f: Filter, step: str = "1m") -> Twin:
    return Twin(
        name, f"{f.logjet} | histogram({step})", f"{f.logsql_text()} | stats by (_time:{step}) count() as n", "buckets"
    )


def count_uniq(name: str, f: Filter, field: str) -> Twin:
    return Twin(
        name,
        f"{f.logjet} | stats count_uniq({field}) as n",
        f"{f.logsql_text()} | stats count_uniq({field}) as n",
        "count",
    )


def latest(name: str, f: Filter, n: int) -> Twin:
    return Twin(name, f.logjet, f.logsql_text(), "rows", limit=n)


def synthetic_suite(rare: str) -> list[Twin]:
    """The suite over bench.generate's traffic; `rare` is a token that occurs once."""
    words = word("user"), phrase("Failed password"), regex("Out of memory: Killed process 9[0-9]+")
    return [
        count("count all", everything()),
        count("field filter app:sshd", field_is("app", "sshd")),
        count("field filter status:503 (kv)", field_is("status", "503")),
        count("two fields app:app status:503", both(field_is("app", "app"), field_is("status", "503"))),
        count("rare word, any case", word(rare)),
        count("rare word, exact case", word(rare, any_case=False)),
        count("common word user, any case", words[0]),
        count("common word user, exact case", word("user", any_case=False)),
        count('phrase "Failed password"', words[1]),
        count("regex", words[2]),
        count("prefix sess*, any case", prefix("sess")),
        count("prefix Sess*, exact case", prefix("Sess", any_case=False)),
        count("numeric duration_ms:>2500", greater("duration_ms", 2500)),
        count_by("stats by host", everything(), "host"),
        count_by("stats by host, app", everything(), "host", "app"),
        histogram("histogram 1m", everything()),
        count("last 5m: word user, any case", words[0], LAST_5M),
        count("last 5m: phrase", words[1], LAST_5M),
        count("last 5m: regex", words[2], LAST_5M),
        latest("latest 100", everything(), 100),
        count_uniq("count_uniq(procid)", everything(), "procid"),
    ]


def loghub_suite() -> list[Twin]:
    """The suite over the loghub samples replayed (bench.generate.loghub_replay: app = the
    system, host = the pass)."""
    words = word("error"), phrase("authentication failure"), regex("Invalid user [a-z]+ from 1[0-9.]+")
    return [
        count("count all", everything()),
        count("field filter app:OpenSSH", field_is("app", "OpenSSH")),
        count("field filter uid:0 (kv)", field_is("uid", "0")),
        count("two fields app:Linux host:replay-03", both(field_is("app", "Linux"), field_is("host", "replay-03"))),
        count("rare word, any case", word("marryaldkfaczcz")),
        count("common word error, any case", words[0]),
        count("common word error, exact case", word("error", any_case=False)),
        count('phrase "authentication failure"', words[1]),
        count("regex", words[2]),
        count("prefix sess*, any case", prefix("sess")),
        count("numeric uid:>1000", greater("uid", 1000)),
        count_by("stats by app", everything(), "app"),
        count_by("stats by host, app", everything(), "host", "app"),
        histogram("histogram 1m", everything()),
        count("last 5m: word error, any case", words[0], LAST_5M),
        count("last 5m: phrase", words[1], LAST_5M),
        count("last 5m: regex", words[2], LAST_5M),
        latest("latest 100", everything(), 100),
        count_uniq("count_uniq(uid)", everything(), "uid"),
    ]
