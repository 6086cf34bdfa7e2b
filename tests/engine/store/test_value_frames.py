"""Value frames (engine/store/value_frames.py): messages cut into frames by app and field
values by key. Real parts written and read back whole, partial reads that decompress only the
frames asked for, and queries over grouped parts that answer as over plain ones."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.store import value_frames
from engine.store.live import live_parts
from engine.store.part_reader import Part, PartDamaged
from tests.engine.query.rowgen import record, write_records

T0 = 1_795_000_000 * 10**9
N = 4000
APPS = [(b"sshd", 0.45), (b"kernel", 0.3), (b"nginx", 0.2), (b"rare-app", 0.04), (None, 0.01)]


def _pick(rng, weighted):
    x, acc = rng.random(), 0.0
    for value, w in weighted:
        acc += w
        if x < acc:
            return value
    return weighted[-1][0]


def _records() -> list[dict]:
    rng = random.Random(5)
    out = []
    for i in range(N):
        app = _pick(rng, APPS)
        if app == b"sshd":
            message = b"Failed password for u%d from 10.0.0.%d" % (rng.randrange(50), rng.randrange(255))
        elif app == b"kernel":
            message = b"Out of memory: Killed process %d" % rng.randrange(10**5)
        else:
            message = b"GET /x%d 200" % rng.randrange(9)
        if rng.random() < 0.01:
            message += b"\nsecond line"  # a value holding the separator: that frame is `bytes`
        fields = [(b"status", rng.choice([b"200", b"404", b"503"]))]
        if rng.random() < 0.5:
            fields.append((b"user", b"u%d" % rng.randrange(50)))
        if rng.random() < 0.02:
            fields.append((b"odd", b"x"))
        out.append(
            record(
                time=T0 + i * 10**7, app=app, host=b"h%d" % (i % 7), message=message, msgid=b"m%d" % i, fields=fields
            )
        )
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(dir with value frames, dir of the plain layout, records)."""
    recs = _records()
    grouped, plain = str(tmp_path_factory.mktemp("grouped")), str(tmp_path_factory.mktemp("plain"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(value_frames, "MIN_FRAME_VALUES", 100)
        write_records(grouped, recs, block_rows=1024, level=1)  # merged parts are cut
        write_records(plain, recs, block_rows=1024, level=0)
    return grouped, plain, recs


def test_parts_hold_frames_and_read_back_whole(data):
    grouped, plain, recs = data
    (path,) = live_parts(grouped)
    with Part(path) as part:
        names = set(part.meta.blocks[0].streams)
        assert {n for n in names if n.startswith("message.data@")} and {n for n in names if n.startswith("kv.data@")}
        assert any(n.startswith("message.len") for b in part.meta.blocks for n in b.streams)
        rows = part.read_all()
    (plain_path,) = live_parts(plain)
    with Part(plain_path) as part:
        assert not any("@" in n for b in part.meta.blocks for n in b.streams)
    assert len(rows) == N
    for i, r in enumerate(recs):
        assert rows.message(i) == r["message"]
        assert [(k, v) for k, _, v in rows.fields(i)] == [(k, v) for k, _, v in r["fields"]]


def test_a_partial_read_decompresses_only_the_frames_asked_for(data, monkeypatch):
    grouped, _, recs = data
    (path,) = live_parts(grouped)
    inflated = []
    with Part(path) as part:
        original = part._inflate

        def counting(offset, clen, what, *into):
            inflated.append(offset)
            return original(offset, clen, what, *into)

        monkeypatch.setattr(part, "_inflate", counting)
        want = part.stored_stream(0, "app") == part.meta.dicts["app"].index(b"sshd") + 1
        (frame,) = set(part.stored_stream(0, "message.group")[want].tolist())  # one kind of line
        assert frame > 0
        inflated.clear()
        data_, starts, ends = part.value_spans(0, "message", want)
        streams = part.meta.blocks[0].streams
        allowed = {
            streams[n].offset
            for n in (f"message.data@{frame}", f"message.len@{frame}", "message.group")
            if n in streams
        }
        assert streams[f"message.data@{frame}"].offset in inflated and set(inflated) <= allowed
        for i in range(len(want)):
            if want[i]:
                assert bytes(data_[starts[i] : ends[i]]) == recs[i]["message"]
            else:
                assert starts[i] == -1
        # Every frame when nothing narrows, equal to the whole copy.
        off, whole = part.values(0, "message")
        data_, starts, ends = part.value_spans(0, "message")
        assert all(bytes(data_[starts[i] : ends[i]]) == bytes(whole[off[i] : off[i + 1]]) for i in range(len(starts)))


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_frame_holding_other_than_its_footer_says_is_damaged(data, delta):
    # Frames are inflated straight into one buffer sized by the footer: a frame longer or
    # shorter than that must not spill into its neighbour or leave bytes unread, but say so.
    grouped, _, _ = data
    (path,) = live_parts(grouped)
    with Part(path) as part:
        streams = part.meta.blocks[0].streams
        name = next(n for n in streams if n.startswith("message.data@"))
        streams[name].count += delta
        with pytest.raises(PartDamaged, match="bytes its footer says"):
            part.value_spans(0, "message")


QUERIES = [
    '"Failed password" | fields msgid',
    "killed | fields msgid",
    "status:503 | fields msgid",
    "user:u7 | fields msgid",
    "odd:x | fields msgid",
    "app:kernel AND status:404 | fields msgid",
    "/Out of memory: Killed process 9[0-9]+/ | fields msgid",
    '"GET /x3" OR user:u1 | fields msgid',
    "* | stats count() by (status)",
    "second | fields msgid",
    "lin* | fields msgid",
]


@pytest.mark.parametrize("query", QUERIES)
def test_queries_answer_as_over_plain_parts(data, query):
    grouped, plain, _ = data
    got = list(PreparedQuery(query).objects(Catalog(grouped)))
    want = list(PreparedQuery(query).objects(Catalog(plain)))
    key = lambda o: sorted(o.items())  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    assert want


def test_which_groups_get_frames():
    assert value_frames.own_groups(np.zeros(5000, np.uint32)) == []  # one key: the plain layout
    gids = np.array([1] * 3000 + [2] * 3000 + [3] * 10, np.uint32)
    assert value_frames.own_groups(gids) == [1, 2]
    assert value_frames.own_groups(np.array([], np.uint32)) == []
    # Messages: by app and template guess; rare kinds share the rest frame (0).
    lines = [b"Failed password for u%d from 10.0.0.%d" % (i, i % 255) for i in range(3000)]
    lines += [b"[%d.5] Out of memory: Killed process %d" % (i, i) for i in range(3000)]
    lines += [b"odd line %d" % i for i in range(10)]
    apps = np.array([1] * 6000 + [2] * 10, np.uint32)
    off = np.zeros(len(lines) + 1, np.int64)
    np.cumsum([len(x) for x in lines], out=off[1:])
    frames = value_frames.message_frames(apps, off, np.frombuffer(b"".join(lines), np.uint8))
    assert sorted(set(frames[:3000].tolist())) != sorted(set(frames[3000:6000].tolist()))
    assert len(set(frames[:3000].tolist())) == 1 and len(set(frames[3000:6000].tolist())) == 1
    assert set(frames[6000:].tolist()) == {0} and frames[0] > 0
    one_kind = np.ones(3000, np.uint32)
    off1 = off[:3001]
    assert value_frames.message_frames(one_kind, off1, np.frombuffer(b"".join(lines), np.uint8)) is None
