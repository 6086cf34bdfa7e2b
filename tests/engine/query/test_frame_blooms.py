"""Frame blooms over real parts (index version 6, split blooms: a filter per message frame of
each block for words, one per block for numbers; and version 5 parts, a filter per frame of
every token): rare words, in any case and in exact case, rare numbers, words of digits and
letters, and phrases mixing numbers and words count what a brute-force test of every record
counts, and what a part with no index counts; a word in several frames of a block, in the rest
frame, written in several cases; a part whose blocks are not cut; the frames a word may be in
are all read, the others not; a number rules out blocks, not frames; filters that do not match
the block's frames are reported as damage."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.config import Storage
from engine.query import block as block_mod
from engine.store import index_build, value_frames
from engine.store.index_build import make_index_builder
from engine.store.index_format import decode_frame_blooms
from engine.store.layout import MESSAGE_GROUP
from engine.store.part_format import PartDamaged
from native_kernels.bloom import each_contains_all
from native_kernels.tokens import exact_hash, hash_token
from tests.engine.query import reference as ref
from tests.engine.query.rowgen import count_rows, frame_blooms_v5, only_scope, record, write_records

T0 = 1_795_000_000 * 10**9
ROWS = 5000
BLOCK_ROWS = 512
TEMPLATES = [
    b"Accepted publickey for %s from 10.0.0.%d",
    b"Connection closed by 10.1.%d.%d port %d",
    b"session opened for user %s by uid %d",
    b"Out of memory: Killed process %d (%s)",
]
MISC = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel", b"india", b"juliet"]
# Rare words by row: `zebra77` in two frames of block 2; `Quokka` in a rest-frame row of block 3,
# `quokka` in block 5 and `QUOKKA` in block 6; the phrase `ember flint` in block 4, the words
# the other way round in another frame of block 4, `ember` alone in block 7. Rare numbers:
# `4242424242` in frame 1 of block 2 and a rest-frame row of block 6; `port 31337` in block 8,
# `31337` alone in another frame of block 8 and in block 9, `31337 port` in block 9.
RARE = {
    2 * BLOCK_ROWS + 10: (0, b"zebra77"),
    2 * BLOCK_ROWS + 11: (2, b"zebra77"),
    2 * BLOCK_ROWS + 300: (2, b"zebra77"),
    3 * BLOCK_ROWS + 20: (None, b"Quokka"),
    5 * BLOCK_ROWS + 7: (1, b"quokka"),
    6 * BLOCK_ROWS + 9: (3, b"QUOKKA"),
    4 * BLOCK_ROWS + 30: (3, b"ember flint"),
    4 * BLOCK_ROWS + 31: (0, b"flint ember"),
    7 * BLOCK_ROWS + 40: (None, b"ember"),
    2 * BLOCK_ROWS + 50: (1, b"4242424242"),
    6 * BLOCK_ROWS + 60: (None, b"4242424242"),
    8 * BLOCK_ROWS + 70: (0, b"port 31337"),
    8 * BLOCK_ROWS + 71: (2, b"pid 31337"),
    9 * BLOCK_ROWS + 80: (3, b"31337 port"),
}


def _message(i: int, rng: random.Random) -> bytes:
    kind, rare = RARE.get(i, (rng.choice([0, 1, 2, 3, None]), b""))
    if kind is None:
        # Lines of many kinds (their first words differ), none with rows enough for a frame.
        text = b" ".join(rng.choice(MISC) for _ in range(3)) + b" %d" % rng.randrange(10**6)
    else:
        fill = {
            0: (rng.choice([b"root", b"bob"]), rng.randrange(256)),
            1: (rng.randrange(256), rng.randrange(256), rng.randrange(65536)),
            2: (rng.choice([b"alice", b"git"]), rng.randrange(1000)),
            3: (rng.randrange(10**5), rng.choice([b"java", b"python"])),
        }[kind]
        text = TEMPLATES[kind] % fill
    return text + b" " + rare if rare else text


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """({kind: data dir}, the records): frames (blocks cut, a filter per frame and a number
    filter per block), uncut (merged blocks not cut into frames: a word filter and a number
    filter per block), v5 (blocks cut, index version 5: a filter per frame of every token),
    plain (no index)."""
    rng = random.Random(5)
    recs = [record(time=T0 + i * 10**6, app=b"sshd", message=_message(i, rng), msgid=b"m%d" % i) for i in range(ROWS)]
    dirs = {k: str(tmp_path_factory.mktemp(k)) for k in ("frames", "uncut", "v5", "plain")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 60)
        mp.setattr(index_build, "INDEX_SHARE", 0.5)
        # Blocks of 512 rows cut into frames of 60 rows: a filter is at least 512 bits.
        mp.setattr(index_build, "BLOOM_SHARE", 0.4)
        build = make_index_builder(Storage())
        write_records(dirs["frames"], recs, block_rows=BLOCK_ROWS, level=1, index_builder=build)

        def v5(rows, blocks, writer, frames):
            directory = build(rows, blocks, writer, frames)
            directory.pop("split_blooms")
            directory["frame_blooms"] = frame_blooms_v5(rows, blocks, writer, frames)
            directory["version"] = 5
            return directory

        write_records(dirs["v5"], recs, block_rows=BLOCK_ROWS, level=1, index_builder=v5)
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 10**6)
        write_records(dirs["uncut"], recs, block_rows=BLOCK_ROWS, level=1, index_builder=build)
    write_records(dirs["plain"], recs, block_rows=BLOCK_ROWS, level=0)
    return dirs, recs


def test_blocks_are_cut_and_filtered_per_frame(stores):
    dirs, _ = stores
    part = only_scope(dirs["frames"]).part
    index = part.meta.index
    assert index["version"] == 6 and index["split_blooms"] and not index["frame_blooms"] and not index["bloom"]
    blooms = decode_frame_blooms(part.blob(*index["split_blooms"]), len(part.meta.blocks), least=2)
    per_block = np.diff(blooms.block_ends)
    for b, block in enumerate(part.meta.blocks):
        numbers = part.stream(b, MESSAGE_GROUP)
        assert per_block[b] == int(numbers.max()) + 2 > 3  # the numbers, the rest and its frames
    uncut = only_scope(dirs["uncut"]).part
    assert MESSAGE_GROUP not in uncut.meta.blocks[0].streams
    blooms = decode_frame_blooms(uncut.blob(*uncut.meta.index["split_blooms"]), len(uncut.meta.blocks), least=2)
    assert (np.diff(blooms.block_ends) == 2).all()  # the block's numbers, its words
    old = only_scope(dirs["v5"]).part.meta.index
    assert old["version"] == 5 and old["frame_blooms"] and "split_blooms" not in old


def test_numbers_are_in_the_number_filters_only(stores):
    dirs, _ = stores
    part = only_scope(dirs["frames"]).part
    words, ends, block_ends = decode_frame_blooms(
        part.blob(*part.meta.index["split_blooms"]), len(part.meta.blocks), least=2
    )
    hit = each_contains_all(words, ends, np.array([hash_token(b"4242424242")], np.uint64))
    first = block_ends[:-1]
    assert hit[first[2]] and hit[first[6]]  # the number filters of the blocks holding it
    # The frame filters hold no number: the few that say maybe are false positives.
    frames = np.ones(len(hit), np.bool_)
    frames[first] = False
    assert hit[frames].sum() <= 0.1 * frames.sum()


def test_a_number_rules_out_blocks_and_a_word_beside_it_frames(stores):
    dirs, _ = stores
    scope = only_scope(dirs["frames"])
    maybe = scope.index.where_maybe([b"4242424242"])
    assert {2, 6} <= set(maybe.blocks) and len(maybe.blocks) < len(scope.part.meta.blocks)
    assert 2 not in maybe.frames and 6 not in maybe.frames  # every frame of the block is read
    both = scope.index.where_maybe([b"4242424242", b"zebra77"])
    assert 2 in both.blocks and set(both.blocks) <= set(maybe.blocks)
    # Block 2: only the frames that may hold `zebra77` (those holding it, and false positives).
    numbers = scope.part.stream(2, MESSAGE_GROUP)
    holding = {int(numbers[i % BLOCK_ROWS]) for i, (_, w) in RARE.items() if w == b"zebra77"}
    assert all(both.frames[2][g] for g in holding) and both.frames[2].sum() < int(numbers.max()) + 1


@pytest.mark.parametrize("word", [b"zebra77", b"quokka", b"ember", b"flint"])
def test_no_frame_holding_a_word_is_ruled_out(stores, word):
    dirs, recs = stores
    scope = only_scope(dirs["frames"])
    maybe = scope.index.where_maybe([word])
    holding = [i for i, r in enumerate(recs) if word in ref.tokens(r["message"])]
    assert holding
    for i in holding:
        b = i // BLOCK_ROWS
        assert b in maybe.blocks
        if b in maybe.frames:
            assert maybe.frames[b][int(scope.part.stream(b, MESSAGE_GROUP)[i % BLOCK_ROWS])]
    # The filters rule frames out: a block holding the word keeps few of its frames.
    assert maybe.frames and all(
        t.sum() < int(scope.part.stream(b, MESSAGE_GROUP).max()) for b, t in maybe.frames.items()
    )


def test_a_word_in_no_row_is_ruled_out_of_most_frames(stores):
    dirs, _ = stores
    scope = only_scope(dirs["frames"])
    frames = [int(scope.part.stream(b, MESSAGE_GROUP).max()) + 1 for b in range(len(scope.part.meta.blocks))]
    kept = 0
    for k in range(200):
        maybe = scope.index.where_maybe([b"zz%dqq" % k])
        kept += sum(int(maybe.frames[b].sum()) if b in maybe.frames else frames[b] for b in maybe.blocks)
    # Blocks of 512 rows get few bits a token (BLOOM_SHARE): a filter in five or so says maybe.
    assert kept <= 0.3 * 200 * sum(frames)


QUERIES = [
    "zebra77",
    '"zebra77"',
    "ZEBRA77",
    "quokka",
    '"quokka"',
    '"Quokka"',
    '"QUOKKA"',
    '"QuOkKa"',
    "ember",
    "flint",
    '"ember flint"',
    '"flint ember"',
    '"Ember flint"',
    "ember flint",
    "zebra77 quokka",
    "Quokka OR zebra77",
    "4242424242",
    '"4242424242"',
    "31337",
    '"port 31337"',
    '"31337 port"',
    "port 31337",
    '"pid 31337"',
    "4242424242 zebra77",
    "zebra77 OR 4242424242",
    "77",
    "22",
    '"port 22"',
    '"uid 7"',
    '"Killed process 4242"',
]


def _brute(recs, query: str) -> int:
    def holds(msg: bytes, q: str) -> bool:
        if " OR " in q:
            return any(holds(msg, p) for p in q.split(" OR "))
        if q.startswith('"'):
            return ref.aligned(msg, q.strip('"').encode(), ignore_case=False)
        return all(ref.aligned(msg, w.encode(), ignore_case=True) for w in q.split())

    return sum(holds(r["message"], query) for r in recs)


@pytest.mark.parametrize("kind", ["frames", "uncut", "v5"])
@pytest.mark.parametrize("query", QUERIES)
def test_rare_words_equal_brute_force(stores, kind, query):
    dirs, recs = stores
    want = _brute(recs, query)
    assert count_rows(dirs[kind], query) == want == count_rows(dirs["plain"], query)


def test_only_the_frames_that_may_hold_a_word_are_read(stores, monkeypatch):
    dirs, recs = stores
    scope = only_scope(dirs["frames"])
    maybe = scope.index.where_maybe([b"zebra77"])
    read = []
    real = block_mod.PartBlock.frame_messages

    def recorded(self, frame, n):
        read.append((self.block_number, frame))
        return real(self, frame, n)

    monkeypatch.setattr(block_mod.PartBlock, "frame_messages", recorded)
    assert count_rows(dirs["frames"], "zebra77") == 3
    numbers = scope.part.stream(2, MESSAGE_GROUP)
    holding = {(2, int(numbers[i % BLOCK_ROWS])) for i, (_, word) in RARE.items() if word == b"zebra77"}
    assert len(holding) == 2 and holding <= set(read)  # the two frames holding it ...
    # ... and no frame the filters ruled out
    assert all(maybe.frames[b][f] for b, f in read if b in maybe.frames)
    assert len(read) < sum(int(t.sum()) for t in maybe.frames.values()) + 1


def test_spelling_hashes_rule_frames_out(stores):
    dirs, _ = stores
    scope = only_scope(dirs["frames"])
    folded, spelled = [b"quokka"], [exact_hash(b"Quokka")]
    assert {3, 5, 6} <= set(scope.index.where_maybe(folded).blocks)
    assert 3 in scope.index.where_maybe(folded, spelled).blocks


def test_filters_not_matching_the_frames_are_damage(tmp_path):
    rng = random.Random(9)
    recs = [record(time=T0 + i * 10**6, app=b"sshd", message=_message(i, rng), msgid=b"m%d" % i) for i in range(2000)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 60)
        mp.setattr(index_build, "BLOOM_SHARE", 0.4)
        build = make_index_builder(Storage())

        def fewer(rows, blocks, writer, frames):
            # Two filters a block (the rest and frame 1) where the blocks have more frames.
            return build(rows, blocks, writer, [None if f is None else np.minimum(f, 1) for f in frames])

        write_records(str(tmp_path), recs, block_rows=BLOCK_ROWS, level=1, index_builder=fewer)
    with pytest.raises(PartDamaged):  # `java` is in frame 1 of those two, not in the rest
        only_scope(str(tmp_path)).index.where_maybe([b"java"])


def test_a_version_5_part_finds_numbers_in_its_frame_filters(stores):
    dirs, _ = stores
    scope = only_scope(dirs["v5"])
    maybe = scope.index.where_maybe([b"4242424242"])
    assert {2, 6} <= set(maybe.blocks)
    # Block 2 holds it in frame 1 only: version 5 filters every token per frame.
    numbers = scope.part.stream(2, MESSAGE_GROUP)
    assert maybe.frames[2][int(numbers[50])] and maybe.frames[2].sum() < int(numbers.max()) + 1
