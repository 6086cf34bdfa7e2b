"""Random rows written as real parts, random queries, every answer checked against a brute-force
evaluation of the same records (reference.py).

Each example writes its records as one to three parts with small blocks (so queries cross
blocks and parts), optionally with a fake index (an exact `PartIndex` stand-in: the planner's
index path must give the same answers as scanning), then runs a few queries through the
executor and compares rows (which ones, newest first, limits) and aggregates.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

import engine.query.scope as scope_mod
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.field_names import SEVERITY_NAMES
from engine.store import value_frames
from engine.store.index_build import COUNT_COLUMNS, block_counts
from engine.store.index_read import MaybeIn
from engine.store.layout import MESSAGE_GROUP
from engine.store.part_reader import Part
from engine.store.rows import DICT_COLUMNS, FORMATS, KV_FIELD, KV_SD, NO_VALUE
from native_kernels.tokens import exact_hash
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import record, write_records

BASE = int(dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc).timestamp()) * 10**9 - 1800 * 10**9
SPAN_S = 3600

TOKENS = [
    "error",
    "Error",
    "failed",
    "password",
    "root",
    "admin",
    "x1",
    "foo",
    "fooo",
    "bar",
    "é",
    "naïve",
    "10",
    "0",
    "1",
    "a",
    "b",
    "ssh2",
    "Failed",
]
SEPS = [" ", " ", " ", "=", "-", ", ", ".", "\n", ":"]
HOSTS = [None, b"web-1", b"web-2", b"db-1", b"Web-1", b"web-10.prod"]
APPS = [None, b"sshd", b"app", b"cron"]
PROCIDS = [None, b"100", b"2000", b"abc", b"7"]
USERS = [b"root", b"admin", b"rooty", b"", b"r\xc3\xa9"]
DURS = [b"5", b"120", b"3000", b"12.5", b"x", b"-3", b"1e2"]

messages = st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(SEPS)), max_size=8).map(
    lambda parts: "".join(t + s for t, s in parts).encode()
)
fields = st.lists(
    st.one_of(
        st.tuples(st.just(b"user"), st.just(KV_FIELD), st.sampled_from(USERS)),
        st.tuples(st.just(b"duration_ms"), st.just(KV_FIELD), st.sampled_from(DURS)),
        st.tuples(st.just(b"meta.seq"), st.just(KV_SD), st.sampled_from([b"1", b"2", b"10"])),
    ),
    max_size=3,
)
records = st.lists(
    st.fixed_dictionaries(
        {
            "time": st.integers(0, SPAN_S * 10**9).map(lambda t: BASE + t),
            "severity": st.sampled_from([0, 1, 3, 4, 6, 7, NO_VALUE]),
            "facility": st.sampled_from([0, 1, 4, 16, 23, NO_VALUE]),
            "format": st.integers(0, 3),
            "host": st.sampled_from(HOSTS),
            "app": st.sampled_from(APPS),
            "procid": st.sampled_from(PROCIDS),
            "message": messages,
            "fields": fields,
        }
    ),
    min_size=0,
    max_size=60,
)


# --- queries: (text, predicate over a record) ----------------------------------------------------


def _word(t):
    return (t, lambda r: ref.ascii_lower(t.encode()) in ref.tokens(r["message"]))


def _case(t, upper):
    return t.upper() if upper and t.isascii() else t


def _exact(t):
    # A word in exact case: the phrase of one token (the index's spellings may answer it).
    return (f'"{t}"', lambda r: ref.aligned(r["message"], t.encode(), False))


leaf = st.one_of(
    st.builds(lambda t, up: _word(_case(t, up)), st.sampled_from(TOKENS), st.booleans()),
    st.builds(lambda t, up: _exact(_case(t, up)), st.sampled_from(TOKENS), st.booleans()),
    st.builds(
        lambda a, s, b: (f'"{a}{s}{b}"', lambda r: ref.aligned(r["message"], f"{a}{s}{b}".encode(), False)),
        st.sampled_from(TOKENS),
        st.sampled_from([" ", "=", "-"]),
        st.sampled_from(TOKENS),
    ),
    st.builds(
        lambda t, k: (
            f"{t[:k]}*",
            lambda r: any(x.startswith(ref.ascii_lower(t[:k].encode())) for x in ref.tokens(r["message"])),
        ),
        st.sampled_from([t for t in TOKENS if t.isascii()]),
        st.integers(1, 3),
    ),
    st.builds(
        lambda p: (f"/{p}/", lambda r: re.search(p.encode(), r["message"]) is not None),
        st.sampled_from(["fo+", "(?i)ERR", r"\d{2}", "^a", r"a\sb", "ro+t|admin", "[^ ]=x"]),
    ),
    st.builds(
        lambda c, v: (f"{c}:{v.decode()}", lambda r: r[c] == v),
        st.sampled_from(["host", "app", "procid"]),
        st.sampled_from([h for h in HOSTS + APPS + PROCIDS if h]),
    ),
    st.builds(
        lambda p: (f"host:{p}*", lambda r: r["host"] is not None and r["host"].startswith(p.encode())),
        st.sampled_from(["web", "web-1", "W", "d"]),
    ),
    st.builds(
        lambda v: (
            f'user:"{v.decode()}"',
            # "" is LogsQL's empty value filter: no value, or an empty one
            (lambda r: v in ref.values(r, "user")) if v else (lambda r: not any(ref.values(r, "user"))),
        ),
        st.sampled_from(USERS[:-1]),
    ),
    st.builds(
        lambda v: (f"user:{v}*", lambda r: any(x.startswith(v.encode()) for x in ref.values(r, "user"))),
        st.sampled_from(["r", "ro", "adm"]),
    ),
    st.sampled_from(["user", "duration_ms", "meta.seq", "host", "severity", "message", "nokey"]).map(
        lambda f: (f"{f}:*", lambda r: any(len(v) > 0 if isinstance(v, bytes) else True for v in ref.values(r, f)))
    ),
    st.builds(
        lambda op, n: (
            f"duration_ms:{op}{n}",
            lambda r: any(
                (x := ref.number(v)) is not None and {">": x > n, ">=": x >= n, "<": x < n, "<=": x <= n}[op]
                for v in ref.values(r, "duration_ms")
            ),
        ),
        st.sampled_from([">", ">=", "<", "<="]),
        st.sampled_from([0, 5, 100, 12.5, 3000]),
    ),
    st.builds(
        lambda a, b: (
            f"procid:[{a} TO {b}]",
            lambda r: any((x := ref.number(v)) is not None and a <= x <= b for v in ref.values(r, "procid")),
        ),
        st.integers(0, 200),
        st.integers(50, 3000),
    ),
    st.builds(
        lambda n: (f"severity:<={n}", lambda r: r["severity"] != NO_VALUE and r["severity"] <= n), st.integers(0, 7)
    ),
    st.builds(
        lambda name: (f"severity:{name}", lambda r: r["severity"] == SEVERITY_NAMES[name]),
        st.sampled_from(["err", "info", "emerg", "debug"]),
    ),
    st.builds(
        lambda a, b: (f"facility:[{a} TO {b}]", lambda r: r["facility"] != NO_VALUE and a <= r["facility"] <= b),
        st.integers(0, 10),
        st.integers(0, 30),
    ),
    st.builds(lambda f: (f"format:{f}", lambda r: FORMATS[r["format"]] == f), st.sampled_from(FORMATS)),
    st.builds(
        lambda a, b: (
            f"_time:[{BASE // 10**9 + a} TO {BASE // 10**9 + b}]",
            lambda r: (BASE // 10**9 + a) * 10**9 <= r["time"] <= (BASE // 10**9 + b) * 10**9,
        ),
        st.integers(0, SPAN_S),
        st.integers(0, SPAN_S),
    ),
    st.builds(
        lambda v: (f"meta.seq:{v}", lambda r: v.encode() in ref.values(r, "meta.seq")), st.sampled_from(["1", "10"])
    ),
    st.just(("*", lambda r: True)),
    # LogsQL spellings on the message, through the index as much as the scan
    st.builds(
        lambda t: (f'="{t}"*', lambda r: r["message"].startswith(t.encode())),
        st.sampled_from(["error", "Error", "failed password", "x1 ", "foo", "naïve"]),
    ),
    st.builds(lambda t: (f'_msg:="{t}"', lambda r: r["message"] == t.encode()), st.sampled_from(["", "error ", "foo"])),
    st.builds(
        lambda t: (f'i("{t}")', lambda r: ref.aligned(r["message"], t.encode(), True)),
        st.sampled_from(["FAILED password", "error-foo", "Root, admin"]),
    ),
)


def _and(a, b, kw):
    return (f"({a[0]}){kw}({b[0]})", lambda r: a[1](r) and b[1](r))


def _or(a, b):
    return (f"({a[0]}) OR ({b[0]})", lambda r: a[1](r) or b[1](r))


def _not(a, form):
    return (f"{form}({a[0]})", lambda r: not a[1](r))


filters = st.recursive(
    leaf,
    lambda ch: st.one_of(
        st.builds(_and, ch, ch, st.sampled_from([" ", " AND ", " and "])),
        st.builds(_or, ch, ch),
        st.builds(_not, ch, st.sampled_from(["NOT ", "-", "!"])),
    ),
    max_leaves=4,
)

STAGES = [
    "",
    "| limit 7",
    "| stats count() by (host)",
    "| top 3 by (app)",
    "| histogram(5m)",
    "| stats count(), sum(duration_ms), min(severity), max(duration_ms), avg(duration_ms), count_uniq(user) by (app)",
    "| stats quantile(0.5, duration_ms), count() as n",
    "| sort by (duration_ms desc, host) | limit 5",
    "| fields host, user",
    "| stats count() by (host, user)",
    "| sort by (procid) | fields procid, msgid",
    "| sort by (_time) | limit 7",
    "| stats count(), count_uniq(app) by (host, severity)",
    "| stats count_uniq(host)",
    "| stats count_uniq(procid), count_uniq(user), count() as n",
]


# --- the fake index --------------------------------------------------------------------------------


class FakeIndex:
    """Exact answers computed from the part: what a correct store index would give."""

    def __init__(self, part: Part):
        self.rows = part.read_all()
        self.block_rows = part.meta.block_rows
        self.nblocks = len(part.meta.blocks)
        self._blocks = part.meta.blocks
        # Each row's message frame, per block (None: not cut into frames).
        self._frames = [
            part.stream(b, MESSAGE_GROUP) if MESSAGE_GROUP in part.meta.blocks[b].streams else None
            for b in range(self.nblocks)
        ]

    @property
    def count_columns(self):
        return list(COUNT_COLUMNS)

    def block_counts(self):
        # The real builder's counts: the executor answers whole blocks from them.
        return block_counts(self.rows, self._blocks)

    def combo_rows(self, blocks=None):
        # Rows per combination counted row by row, in the builder's combination order.
        codes = self.block_counts().codes
        where = {tuple(int(c[k]) for c in codes): k for k in range(len(codes[0]))}
        out = np.zeros(len(codes[0]), np.int64)
        r = self.rows
        for i in range(len(r)):
            if blocks is None or blocks[i // self.block_rows]:
                out[where[(int(r.ids["host"][i]), int(r.ids["app"][i]), int(r.severity[i]))]] += 1
        return out

    def code_blocks(self, column):
        # Whether each code is in each block, found row by row.
        codes = self.rows.severity if column == "severity" else self.rows.ids[column]
        out = np.zeros((int(codes.max()) + 1 if len(codes) else 0, self.nblocks), np.bool_)
        for i, code in enumerate(codes.tolist()):
            out[code, i // self.block_rows] = True
        return out

    def stores_bitmaps(self, column):
        # value_rows answers dictionary columns from the rows themselves, as stored bitmaps would.
        return column in DICT_COLUMNS

    def value_rows(self, column, value):
        r = self.rows
        if column in DICT_COLUMNS:
            vals = r.dicts[column]
            if value not in vals:
                return BitMap()
            return BitMap(np.flatnonzero(r.ids[column] == vals.index(value) + 1).tolist())
        if column == "field:user":
            return BitMap([i for i in range(len(r)) if any(k == b"user" and v == value for k, _, v in r.fields(i))])
        return None

    def values(self, column):
        if column == "field:user":
            return sorted({v for i in range(len(self.rows)) for k, _, v in self.rows.fields(i) if k == b"user"})
        return None

    def token_rows(self, token):
        # Bitmaps of some tokens only (a rare token has none, a budget runs out): both the
        # bitmap path and the scan run, alone and mixed (a phrase of kept and unkept tokens).
        if len(token) % 2:
            return None
        r = self.rows
        return BitMap([i for i in range(len(r)) if token in ref.tokens(r.message(i))])

    def token_spelling(self, token):
        # How every occurrence of a kept token is written, when that is one way (the index's
        # spellings); None for a token written several ways, as for one without a bitmap.
        if self.token_rows(token) is None:
            return None
        r = self.rows
        seen = {t for i in range(len(r)) for t in ref.TOKEN_RE.findall(r.message(i)) if ref.ascii_lower(t) == token}
        return seen.pop() if len(seen) == 1 else None

    def blocks_maybe_containing(self, tokens, spelled_hashes=None):
        return self.where_maybe(tokens, spelled_hashes).blocks

    def where_maybe(self, tokens, spelled_hashes=None):
        # Exactly the message frames holding every token, and every spelled one written so (a
        # frame bloom with no false positive), and the blocks holding such a frame.
        r = self.rows
        blocks, frames = [], {}
        for b in range(self.nblocks):
            lo, hi = b * self.block_rows, min(len(r), (b + 1) * self.block_rows)
            numbers = self._frames[b] if self._frames[b] is not None else np.zeros(hi - lo, np.uint8)
            held = np.zeros(256, np.bool_)
            for g in np.unique(numbers).tolist():
                rows = [lo + i for i in np.flatnonzero(numbers == g).tolist()]
                held_tokens = {t for i in rows for t in ref.tokens(r.message(i))}
                written = {exact_hash(t) for i in rows for t in ref.TOKEN_RE.findall(r.message(i))}
                held[g] = set(tokens) <= held_tokens and set(spelled_hashes or []) <= written
            if held.any():
                blocks.append(b)
                if self._frames[b] is not None:
                    frames[b] = held
        return MaybeIn(blocks, frames)


# --- checks ------------------------------------------------------------------------------------------


def check(stage: str, recs: list[dict], matches: list[dict], out: list[dict]):
    by_id = {r["msgid"].decode(): r for r in recs}
    if stage in ("", "| limit 7", "| sort by (_time) | limit 7"):
        oldest = "sort" in stage
        got = [by_id[o["msgid"]] for o in out]
        times = [r["time"] for r in got]
        assert times == sorted(times, reverse=not oldest), "not in time order"
        assert all(any(g is m for m in matches) for g in got), "a row that does not match"
        want = sorted((m["time"] for m in matches), reverse=not oldest)[: 7 if stage else None]
        assert times == want
        assert len({id(g) for g in got}) == len(got), "a row twice"
    elif stage == "| stats count() by (host)" or stage == "| stats count() by (host, user)":
        keys = ["host"] + (["user"] if "user" in stage else [])
        want: dict = {}
        for m in matches:
            k = tuple(ref.json_value(f, ref.first(m, f)) for f in keys)
            want[k] = want.get(k, 0) + 1
        assert {tuple(o[f] for f in keys): o["count()"] for o in out} == want
    elif stage == "| top 3 by (app)":
        counts: dict = {}
        for m in matches:
            k = ref.json_value("app", m["app"])
            counts[k] = counts.get(k, 0) + 1
        got = [(o["app"], o["count"]) for o in out]
        assert [c for _, c in got] == sorted(counts.values(), reverse=True)[:3]
        assert all(counts[a] == c for a, c in got)
    elif stage == "| histogram(5m)":
        step = 300 * 10**9
        want = {}
        for m in matches:
            want[m["time"] // step] = want.get(m["time"] // step, 0) + 1
        got = {
            int(dt.datetime.fromisoformat(o["_time"][:26] + "+00:00").timestamp()) * 10**9 // step: o["count"]
            for o in out
        }
        assert got == want
    elif stage.startswith("| stats count(), sum"):
        groups: dict = {}
        for m in matches:
            groups.setdefault(ref.json_value("app", m["app"]), []).append(m)
        assert {o["app"] for o in out} == set(groups)
        for o in out:
            ms = groups[o["app"]]
            durs = [x for m in ms if (x := ref.number(ref.first(m, "duration_ms"))) is not None]
            sevs = [m["severity"] for m in ms if m["severity"] != NO_VALUE]
            users = {ref.first(m, "user") for m in ms} - {None}
            assert o["count()"] == len(ms)
            assert ref.close(o["sum(duration_ms)"], float(sum(durs)) if durs else None)
            assert ref.close(o["avg(duration_ms)"], sum(durs) / len(durs) if durs else None)
            assert ref.close(o["max(duration_ms)"], max(durs) if durs else None)
            assert ref.close(o["min(severity)"], float(min(sevs)) if sevs else None)
            assert o["count_uniq(user)"] == len(users)
    elif stage.startswith("| stats count(), count_uniq(app) by (host, severity)"):
        cells: dict = {}
        for m in matches:
            k = (ref.json_value("host", m["host"]), ref.json_value("severity", ref.first(m, "severity")))
            cells.setdefault(k, []).append(m)
        assert {(o["host"], o["severity"]): o["count()"] for o in out} == {k: len(v) for k, v in cells.items()}
        uniq = {k: len({m["app"] for m in v} - {None}) for k, v in cells.items()}
        assert {(o["host"], o["severity"]): o["count_uniq(app)"] for o in out} == uniq
    elif stage == "| stats count_uniq(host)":
        assert out == [{"count_uniq(host)": len({m["host"] for m in matches} - {None})}]
    elif stage.startswith("| stats count_uniq(procid)"):
        procids = {m["procid"] for m in matches} - {None}
        users = {ref.first(m, "user") for m in matches} - {None}
        assert out == [{"count_uniq(procid)": len(procids), "count_uniq(user)": len(users), "n": len(matches)}]
    elif stage.startswith("| stats quantile"):
        durs = [x for m in matches if (x := ref.number(ref.first(m, "duration_ms"))) is not None]
        assert len(out) == 1 and out[0]["n"] == len(matches)
        assert ref.close(out[0]["quantile(0.5, duration_ms)"], ref.quantile(durs, 0.5) if durs else None)
    elif stage.startswith("| sort by (duration_ms desc, host)"):
        kd = ref.sort_key_factory(matches, "duration_ms")
        kh = ref.sort_key_factory(matches, "host")
        want = sorted(matches, key=lambda m: -m["time"])
        want = sorted(want, key=kh)
        want = sorted(want, key=kd, reverse=True)[:5]
        got = [by_id[o["msgid"]] for o in out]
        assert [(kd(g), kh(g)) for g in got] == [(kd(w), kh(w)) for w in want]
        assert all(any(g is m for m in matches) for g in got)
    elif stage == "| fields host, user":
        assert len(out) == len(matches)
        want = [(ref.json_value("host", m["host"]), ref.json_value("user", ref.first(m, "user"))) for m in matches]
        assert sorted(((o["host"], o["user"]) for o in out), key=str) == sorted(want, key=str)
        assert all(set(o) == {"host", "user"} for o in out)
    elif stage.startswith("| sort by (procid)"):
        kp = ref.sort_key_factory(matches, "procid")
        got = [by_id[o["msgid"]] for o in out]
        assert sorted(id(g) for g in got) == sorted(id(m) for m in matches)
        assert [kp(g) for g in got] == sorted(kp(m) for m in matches)
    else:
        raise AssertionError(stage)


@pytest.fixture
def fake_index(monkeypatch):
    monkeypatch.setattr(scope_mod, "_PartIndex", FakeIndex)


@pytest.mark.slow  # 150 generated stores and query pipelines
@settings(
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(
    recs=records,
    queries=st.lists(st.tuples(filters, st.sampled_from(STAGES)), min_size=1, max_size=4),
    nparts=st.integers(1, 3),
    block_rows=st.sampled_from([2, 3, 7, 64]),
    with_index=st.booleans(),
    frames=st.booleans(),
)
def test_queries_match_brute_force(fake_index, recs, queries, nparts, block_rows, with_index, frames):
    recs = [record(**r, msgid=f"id{i}".encode()) for i, r in enumerate(recs)]
    tmp = tempfile.mkdtemp(prefix="ljq-")
    try:
        builder = (lambda rows, blocks, w, frames: {"fake": True}) if with_index else None
        with pytest.MonkeyPatch.context() as mp:
            # Merged parts (level 1) cut their values into frames; any group may get one here.
            mp.setattr(value_frames, "MIN_FRAME_VALUES", 1)
            for k in range(nparts):
                chunk = recs[k::nparts]
                if chunk:
                    write_records(
                        tmp, chunk, block_rows=block_rows, seq=k + 1, index_builder=builder, level=1 if frames else 0
                    )
        catalog = Catalog(tmp)
        for (text, pred), stage in queries:
            q = f"{text} {stage}"
            matches = [r for r in recs if pred(r)]
            # Twice: the second run reads field keys' pairs and numbers kept by the first.
            for run in ("first", "again"):
                out = list(PreparedQuery(q).objects(catalog))
                try:
                    check(stage, recs, matches, out)
                except AssertionError as exc:
                    raise AssertionError(f"query {q!r} ({run} run): {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
