"""Exact-case words and phrases, and regexes, over indexed parts whose messages are cut into
value frames (the index picks the candidate rows, only their frames are read, the case or the
regex is checked there) answer as a brute-force test of every record, and as the same rows
written without an index or frames."""

from __future__ import annotations

import random
import re

import pytest

from engine.config import Storage
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store import index_build, value_frames
from engine.store.index_build import make_index_builder
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import record, write_records

T0 = 1_795_000_000 * 10**9
WORDS = [b"user", b"User", b"USER", b"users", b"username", b"Failed", b"failed", b"password", b"Password", b"root"]


def _message(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.4:
        return b"%s %s for %s from 10.0.%d.%d" % (
            rng.choice([b"Failed", b"failed", b"FAILED", b"Accepted"]),
            rng.choice([b"password", b"Password", b"publickey"]),
            rng.choice([b"user", b"User", b"root", b"invalid user"]),
            rng.randrange(4),
            rng.randrange(255),
        )
    if kind < 0.7:
        return b"Out of memory: Killed process %d (%s)" % (rng.randrange(10**4), rng.choice([b"java", b"Java"]))
    return b" ".join(rng.choice(WORDS) + rng.choice([b"", b"-x", b"=1", b":"]) for _ in range(rng.randrange(1, 6)))


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(indexed dir with value frames, plain dir, records)."""
    rng = random.Random(11)
    recs = [
        record(
            time=T0 + i * 10**6, app=rng.choice([b"sshd", b"kernel", b"app"]), message=_message(rng), msgid=b"m%d" % i
        )
        for i in range(6000)
    ]
    indexed, plain = str(tmp_path_factory.mktemp("indexed")), str(tmp_path_factory.mktemp("plain"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 100)
        # Room for the token sets beside the frame blooms: this is about answers, test_index_size
        # about the budget.
        mp.setattr(index_build, "INDEX_SHARE", 0.5)
        build = make_index_builder(Storage())
        write_records(indexed, recs, block_rows=512, level=1, index_builder=build)
    write_records(plain, recs, block_rows=512, level=0)
    scopes = Catalog(indexed).scopes()
    assert any(s.index is not None and s.index.token_rows(b"user") is not None for s in scopes)  # not vacuous
    return indexed, plain, recs


PHRASES = [b"user", b"User", b"USER", b"users", b"Failed password", b"failed Password", b"Java", b"root", b"user=1"]
REGEXES = [
    rb"Out of memory: Killed process 9[0-9]+",
    rb"(?i)failed password for (user|root)",
    rb"(?<=Out )of memory: Killed process 1\d* \(Java\)",
    rb"for (invalid )?user from 10\.0\.1\.",
    rb"(\w+) \1",
    rb"^User",
    rb"(?i:USER)name",
    # No required token: every row, of every frame, scanned where it lies.
    rb"[Jj]ava\)$",
    rb"d (for|from) ",
    rb"^[A-Z]\w+ \w+",
    rb"\d\s\(",
]


def _count(data: str, query: str) -> int:
    (obj,) = list(PreparedQuery(f"{query} | stats count() as n").objects(Catalog(data)))
    return int(obj["n"])


@pytest.mark.parametrize("text", PHRASES)
def test_exact_case_phrase_equals_brute_force_and_plain_scan(stores, text):
    indexed, plain, recs = stores
    want = sum(ref.aligned(r["message"], text, ignore_case=False) for r in recs)
    query = '"' + text.decode() + '"'
    assert _count(indexed, query) == want == _count(plain, query)
    assert want > 0 or text == b"USER"


@pytest.mark.parametrize("pattern", REGEXES)
def test_regex_equals_brute_force_and_plain_scan(stores, pattern):
    indexed, plain, recs = stores
    want = sum(re.search(pattern, r["message"]) is not None for r in recs)
    query = f"message:/{pattern.decode()}/"
    assert _count(indexed, query) == want == _count(plain, query)
    assert want > 0
