"""Token bitmaps of the store index (engine/store/index_build.py, index_read.py) under the word and phrase filters:
real parts with frequent tokens, written with the real index builder, queried through the
executor. A word kept in the index is answered without reading a message block; every answer
equals the one the same parts give with no index at all, and a part written before token sets
(index version 1, no `tokens`) still answers by scanning. Regexes on the message narrow by
the same bitmaps (the tokens every match holds) and answer as `re.search` does."""

from __future__ import annotations

import random
import re

import pytest

from engine.config import Storage
from engine.query.block import PartBlock
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store import index_build
from engine.store.index_build import make_index_builder
from engine.store.index_read import PartIndex
from engine.store.live import live_parts
from engine.store.part_reader import Part, PartDamaged
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import record, write_records

T0 = 1_795_000_000 * 10**9
N = 3000
# (token, share of rows): the frequent ones get bitmaps; "rare" stays under TOKEN_MIN_SHARE.
VOCAB = [
    (b"user", 0.3),
    (b"Failed", 0.2),
    (b"password", 0.2),
    (b"ssh2", 0.5),
    (b"port", 0.1),
    (b"\xc3\xa9t\xc3\xa9", 0.08),
    (b"rare", 0.002),
]
# Look-alikes a bitmap must not count: prefixes, suffixes, other case, joined by `_`.
NOISE = [
    b"users",
    b"USER",
    b"user_x",
    b"-user-",
    b"failedx",
    b"FAILED",
    b"pass",
    b"x1",
    b"10.0.0.1",
    b"\xc3\x89T\xc3\xa9",
]
WORDS = [
    "user",
    "USER",
    "Failed",
    "failed",
    "password",
    "ssh2",
    "port",
    "\u00e9t\u00e9",
    "rare",
    "users",
    "user_x",
    "10.0.0.1",
    "nothing",
]
# (query, the pattern as `re` takes it): each answered from the index's rows and blocks, then the regex.
REGEXES = [
    ("/Failed password/", rb"Failed password"),
    ("/(?i)failed PASSWORD for/", rb"(?i)failed PASSWORD for"),
    ("/ password for [a-z]+/", rb" password for [a-z]+"),
    ("/^Failed/", rb"^Failed"),
    ("/ ssh2$/", rb" ssh2$"),
    (r"/\buser\b/", rb"\buser\b"),
    ("/[Uu]ser port/", rb"[Uu]ser port"),
    ("/=user=port=/", rb"=user=port="),
    (r"/ user_x\s+/", rb" user_x\s+"),
    (r"/ssh2 \w+/", rb"ssh2 \w+"),
    ("/ \u00e9t\u00e9 /", " \u00e9t\u00e9 ".encode()),
    ("/ rare|port /", rb" rare|port "),
    ("/ x1 /i", rb"(?i) x1 "),
    ("/ ssh2 .* user/", rb" ssh2 .* user"),
]
PHRASES = [
    '"Failed password"',
    '"failed password"',
    '"password for user"',
    '"user port"',
    '"ssh2"',
    '"Failed password" user',
    "user -port",
    "user OR rare",
    "ssh2 AND NOT password",
]


def _records() -> list[dict]:
    rng = random.Random(11)
    out = []
    for i in range(N):
        words = []
        if rng.random() < 0.2:
            words += [b"Failed", b"password", b"for"]
        for token, share in VOCAB:
            if token not in (b"Failed", b"password") and rng.random() < share:
                words.append(token if rng.random() < 0.7 else token.upper())
        words += rng.sample(NOISE, rng.randrange(3))
        rng.shuffle(words[3:] if words[:1] == [b"Failed"] else words)
        message = rng.choice([b" ", b"=", b", "]).join(words) or b"-"
        out.append(record(time=T0 + i * 10**8, message=message, msgid=b"m%d" % i))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(dir with token bitmaps, dir without any index, dir of version 1 indexes, records)."""
    recs = _records()
    dirs = [str(tmp_path_factory.mktemp(name)) for name in ("tokens", "plain", "v1")]
    with pytest.MonkeyPatch.context() as mp:
        # Room for every set: this is about answers, test_index_size about the budget.
        mp.setattr(index_build, "INDEX_SHARE", 10.0)
        mp.setattr(index_build, "TOKEN_MIN_BLOCKS", 0)  # these parts are small: sets anyway
        builder = make_index_builder(Storage(fsync=False))

        def v1(rows, blocks, writer, frames):
            meta = builder(rows, blocks, writer, frames)
            meta.pop("tokens")
            return {**meta, "version": 1}

        for seq, (folder, b) in enumerate(zip(dirs, (builder, None, v1))):
            write_records(folder, recs[: N // 2], block_rows=256, seq=seq * 10 + 1, index_builder=b)
            write_records(folder, recs[N // 2 :], block_rows=256, seq=seq * 10 + 2, index_builder=b)
    return (*dirs, recs)


def _run(folder: str, query: str) -> list[dict]:
    return list(PreparedQuery(query).objects(Catalog(folder)))


def _ids(folder: str, query: str) -> list[bytes]:
    return sorted(o["msgid"] for o in _run(folder, query))


@pytest.fixture
def message_reads(monkeypatch):
    """How many times a message block was decompressed."""
    reads = []
    original = PartBlock.message

    def counted(self):
        reads.append(self.row0)
        return original(self)

    monkeypatch.setattr(PartBlock, "message", counted)
    return reads


def test_token_bitmaps_hold_exactly_the_rows_of_each_token(data):
    folder, _, _, _ = data
    stored = set()
    for path in live_parts(folder):
        with Part(path) as part:
            rows = part.read_all()
            idx = PartIndex(part)
            truth: dict[bytes, set[int]] = {}
            for i in range(len(rows)):
                for t in ref.tokens(rows.message(i)):
                    truth.setdefault(t, set()).add(i)
            for token, members in truth.items():
                got = idx.token_rows(token)
                if got is None:
                    # Bare numbers are left to field filters (see _token_groups).
                    assert len(members) < index_build.TOKEN_MIN_SHARE * len(rows) or token.isdigit(), token
                    continue
                stored.add(token)
                assert set(got) == members, token
            assert idx.token_rows(b"no-such-token") is None
    assert {b"user", b"failed", b"password", b"ssh2", b"port", "\u00e9t\u00e9".encode()} <= stored
    assert b"rare" not in stored


@pytest.mark.parametrize("word", WORDS)
def test_words_match_a_scan(data, word, message_reads):
    folder, plain, v1, recs = data
    want = _ids(plain, f"{word} | fields msgid")
    truth = sorted(r["msgid"].decode() for r in recs if ref.aligned(r["message"], word.encode(), True))
    assert want == truth
    message_reads.clear()
    assert _ids(folder, f"{word} | fields msgid") == want
    if word.lower() in ("user", "failed", "password", "ssh2", "port", "\u00e9t\u00e9"):
        assert message_reads == []  # answered from the bitmap alone
    assert _ids(v1, f"{word} | fields msgid") == want


def test_counts_and_time_ranges_from_bitmaps(data, message_reads):
    folder, plain, _, _ = data
    for query in ("user | stats count()", "ssh2 | stats count() by (host)", "password | histogram(1m)"):
        assert _run(folder, query) == _run(plain, query)
    # A range that cuts blocks: the bitmap is combined with the rows' times.
    start, end = T0 + 123 * 10**8 + 5, T0 + 2222 * 10**8
    for query in ("user | stats count()", "port | fields msgid"):
        want = list(PreparedQuery(query, start, end).objects(Catalog(plain)))
        message_reads.clear()
        assert list(PreparedQuery(query, start, end).objects(Catalog(folder))) == want and want
        assert message_reads == []


@pytest.mark.parametrize("query", PHRASES)
def test_phrases_and_combinations_match_a_scan(data, query):
    folder, plain, v1, _ = data
    want = _ids(plain, f"{query} | fields msgid")
    assert _ids(folder, f"{query} | fields msgid") == want
    assert _ids(v1, f"{query} | fields msgid") == want


@pytest.mark.parametrize("query, pattern", REGEXES)
def test_regexes_match_re_search(data, query, pattern):
    folder, plain, v1, recs = data
    truth = sorted(r["msgid"].decode() for r in recs if re.search(pattern, r["message"]))
    assert truth
    for where in (folder, plain, v1):
        assert _ids(where, f"{query} | fields msgid") == truth, where


def test_phrase_tests_only_the_rows_its_tokens_hold(data, monkeypatch):
    folder, plain, _, _ = data
    tested = []
    from engine.query import field_eval

    original = field_eval.MessageBound.eval

    def counted(self, blk, cand):
        out = original(self, blk, cand)
        if self._rows is not None and not self.exact:
            tested.append(int(field_eval._block_mask(self._rows, blk.row0, blk.n).sum()))
        return out

    monkeypatch.setattr(field_eval.MessageBound, "eval", counted)
    query = '"Failed password" | stats count()'
    assert _run(folder, query) == _run(plain, query)
    # The kernel saw the rows holding both tokens (~20%), not every row.
    assert tested and 0 < sum(tested) < 0.3 * N
    # Kept tokens joined by `_` and a space: the AND of their bitmaps, then the kernel.
    assert _ids(folder, '"user_x users" | fields msgid') == _ids(plain, '"user_x users" | fields msgid')
    # A regex narrows the same way, by the tokens every match holds whole (`password`, `for`).
    tested.clear()
    query = "/Failed password for [a-z]+/ | stats count()"
    assert _run(folder, query) == _run(plain, query)
    assert tested and 0 < sum(tested) < 0.3 * N


def test_damaged_token_set_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(index_build, "INDEX_SHARE", 10.0)
    monkeypatch.setattr(index_build, "TOKEN_MIN_BLOCKS", 0)
    monkeypatch.setattr(index_build, "INDEX_MIN_ROWS", 0)
    (path,) = write_records(
        str(tmp_path), _records()[:600], block_rows=256, index_builder=make_index_builder(Storage(fsync=False))
    )
    with Part(path) as part:
        at, clen = part.meta.index["tokens"]
        assert PartIndex(part).token_rows(b"user") is not None
    with open(path, "r+b") as f:
        f.seek(at + clen // 2)
        byte = f.read(1)
        f.seek(at + clen // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with Part(path) as part:
        with pytest.raises(PartDamaged):
            PartIndex(part).token_rows(b"user")
