"""Exact-case words, phrases and prefixes answered from the index's spellings (index version
4: each kept token's one spelling, spelling hashes in the blooms) equal a brute-force test of
every record, over real parts: tokens written one way (answered with no message read), tokens
written several ways (their candidates' messages read), tokens only in the bloom, and parts
written before spellings (read as before)."""

from __future__ import annotations

import random

import pytest

from engine.config import Storage
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.filters.phrase import Phrase
from engine.store import index_build, value_frames
from engine.store.index_build import make_index_builder
from native_kernels.tokens import exact_hash
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import block_blooms, record, write_records

T0 = 1_795_000_000 * 10**9
ROWS = 6000
BLOCK_ROWS = 512
# Rare tokens (bloom only), by block: `RareX` written so in block 2 only, `rarex` in blocks
# 4-9 (so a spelling hash rules `"RareX"` out of those), `MiXeD` / `mixed` both in block 3.
RARE = {2 * BLOCK_ROWS + 7: b"RareX", 3 * BLOCK_ROWS + 1: b"MiXeD", 3 * BLOCK_ROWS + 9: b"mixed"}
RARE.update({b * BLOCK_ROWS + 5: b"rarex" for b in range(4, 10)})


def _message(i: int, rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.3:  # `Session` and `opened` one way, `user` one way
        text = b"pam_unix(sshd:auth): Session opened for user %s" % rng.choice([b"root", b"bob"])
    elif kind < 0.6:  # `Failed` / `failed` two ways; `password` one way
        text = b"%s password for %s from 10.0.0.%d" % (
            rng.choice([b"Failed", b"failed"]),
            rng.choice([b"root", b"alice"]),
            rng.randrange(9),
        )
    else:
        text = b"Connection closed by %d.%d port %d" % (rng.randrange(256), rng.randrange(256), rng.randrange(65536))
    if i in RARE:
        text += b" token " + RARE[i]
    return text


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """{kind: data dir} (spellings: index version 4; old: the same index less what version 4
    added; plain: no index) and the records."""
    rng = random.Random(7)
    recs = [
        record(time=T0 + i * 10**6, app=rng.choice([b"sshd", b"app"]), message=_message(i, rng), msgid=b"m%d" % i)
        for i in range(ROWS)
    ]
    dirs = {k: str(tmp_path_factory.mktemp(k)) for k in ("spellings", "old", "plain")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 100)
        mp.setattr(index_build, "INDEX_SHARE", 0.9)  # room for the token sets of a small part
        build = make_index_builder(Storage())
        write_records(dirs["spellings"], recs, block_rows=BLOCK_ROWS, level=1, index_builder=build)

        # A version 3 part: a bloom per block of folded hashes only, no spellings.
        def old(rows, blocks, writer, frames):
            directory = build(rows, blocks, writer, frames)
            directory.pop("spellings", None)
            directory.pop("bloom_spelled", None)
            directory.pop("split_blooms")
            directory["bloom"] = block_blooms(rows, blocks, writer)
            directory["version"] = 3
            return directory

        write_records(dirs["old"], recs, block_rows=BLOCK_ROWS, level=1, index_builder=old)
    write_records(dirs["plain"], recs, block_rows=BLOCK_ROWS, level=0)
    return dirs, recs


def _index(data: str):
    (scope,) = Catalog(data).scopes()
    assert scope.index is not None
    return scope.index


def _count(data: str, query: str) -> int:
    (obj,) = list(PreparedQuery(f"{query} | stats count() as n").objects(Catalog(data)))
    return int(obj["n"])


def test_the_index_knows_the_spellings(stores):
    dirs, _ = stores
    new, old = _index(dirs["spellings"]), _index(dirs["old"])
    for token, written in [(b"session", b"Session"), (b"user", b"user"), (b"password", b"password")]:
        assert new.token_rows(token) is not None  # kept: the test is not vacuous
        assert new.token_spelling(token) == written
        assert old.token_spelling(token) is None
    assert new.token_rows(b"failed") is not None and new.token_spelling(b"failed") is None  # two ways
    assert new.token_spelling(b"rarex") is None  # bloom only


PHRASES = [
    b"Session",
    b"session",
    b"SESSION",
    b"user",
    b"User",
    b"Failed",
    b"failed",
    b"password",
    b"Password",
    b"RareX",
    b"rarex",
    b"RAREX",
    b"MiXeD",
    b"mixed",
    b"Mixed",
    b"Session opened",
    b"session opened",
    b"Failed password",
    b"failed Password",
    b"token RareX",
]
PREFIXES = [b"Sess", b"sess", b"Session op", b"session op", b"Failed pass", b"token Rar", b"token rar"]


@pytest.mark.parametrize("kind", ["spellings", "old"])
@pytest.mark.parametrize("text", PHRASES)
def test_exact_case_phrase_equals_brute_force(stores, kind, text):
    dirs, recs = stores
    want = sum(ref.aligned(r["message"], text, ignore_case=False) for r in recs)
    query = '"' + text.decode() + '"'
    assert _count(dirs[kind], query) == want == _count(dirs["plain"], query)


@pytest.mark.parametrize("kind", ["spellings", "old"])
@pytest.mark.parametrize("text", PREFIXES)
def test_exact_case_prefix_equals_brute_force(stores, kind, text):
    dirs, recs = stores
    want = sum(ref.aligned(r["message"], text, ignore_case=False, right=False) for r in recs)
    query = '"' + text.decode() + '"*'
    assert _count(dirs[kind], query) == want == _count(dirs["plain"], query)


@pytest.mark.parametrize("text", [b"Session", b"session", b"user", b"USER", b"password"])
def test_a_token_written_one_way_reads_no_message(stores, monkeypatch, text):
    dirs, recs = stores
    want = sum(ref.aligned(r["message"], text, ignore_case=False) for r in recs)

    def refuse(self, spans, cand):
        raise AssertionError(f"{self.text!r} read the messages")

    monkeypatch.setattr(Phrase, "on_message", refuse)
    assert _count(dirs["spellings"], '"' + text.decode() + '"') == want


def test_spelling_hashes_rule_blocks_out(stores):
    dirs, _ = stores
    new, old = _index(dirs["spellings"]), _index(dirs["old"])
    folded, spelled = [b"rarex"], [exact_hash(b"RareX")]
    assert exact_hash(b"rarex") is None  # a lower-case spelling is the folded hash: nothing to add
    lower_only = set(range(4, 10))
    # Without the spelling hash every block holding the token in some case stays.
    assert {2} | lower_only <= set(new.blocks_maybe_containing(folded))
    with_spelling = set(new.blocks_maybe_containing(folded, spelled))
    assert 2 in with_spelling
    # Small blocks get a bloom of few bits a token (BLOOM_SHARE): some false positives stay.
    assert len(lower_only & with_spelling) <= len(lower_only) // 2
    # An old part's blooms hold no spelling hashes: they are not probed there.
    assert {2} | lower_only <= set(old.blocks_maybe_containing(folded, spelled))


def test_damaged_spellings_are_refused(stores):
    """Spellings that do not spell their tokens (a damaged blob) raise, not answer wrong."""
    from engine.store.index_format import decode_spellings, encode_spellings
    from engine.store.part_format import PartDamaged

    assert decode_spellings(encode_spellings([b"User", b""]), 2) == [b"User", b""]
    with pytest.raises(PartDamaged):
        decode_spellings(encode_spellings([b"User"]), 2)
    with pytest.raises(PartDamaged):
        decode_spellings(encode_spellings([b"User"])[:-1], 1)
    index = _index(stores[0]["spellings"])
    index.token_spelling(b"session")
    index._spellings = None
    blob = index._part.blob(*index._index.spellings)
    spoiled = blob.replace(b"Session", b"Sessiom")
    assert spoiled != blob
    index._part.blob = lambda offset, clen: spoiled  # type: ignore[method-assign]
    with pytest.raises(PartDamaged):
        index.token_spelling(b"session")
