"""The part file: round trip of every column, the head, value encodings, damage detection."""

import os

import numpy as np
import pytest

from bench.rows import rows_from_lines, sort_by_time, synthetic_rows
from engine.store.part_reader import FORMAT_VERSION, Part, PartDamaged, PartOptions, read_head, write_part
from engine.store.rows import DICT_COLUMNS, U8_COLUMNS


def _same_rows(a, b):
    assert len(a) == len(b)
    assert np.array_equal(a.time, b.time) and np.array_equal(a.recv, b.recv)
    for c in U8_COLUMNS:
        assert np.array_equal(getattr(a, c), getattr(b, c))
    for i in range(len(a)):
        for c in DICT_COLUMNS:
            assert a.value(c, i) == b.value(c, i)
        assert a.message(i) == b.message(i)
        assert a.sd(i) == b.sd(i)
        assert a.fields(i) == b.fields(i)


@pytest.mark.parametrize("rfc5424", [False, True])
def test_round_trip_over_several_blocks(tmp_path, rfc5424):
    rows = synthetic_rows(5000, seed=3, rfc5424=rfc5424)
    path = str(tmp_path / "p.ljp")
    meta = write_part(
        path,
        rows,
        PartOptions(
            level=0, instance="i", flush_id="f", block_rows=1024, fsync=False, positions={"ring": 7}, replaces=["a.ljp"]
        ),
    )
    assert len(meta.blocks) == 5
    with Part(path) as part:
        assert part.meta.rows == 5000 and part.meta.version == FORMAT_VERSION
        _same_rows(rows, part.read_all())
        assert part.meta.blocks[0].streams["message.data"].encoding == "lines"
        assert "message.len" not in part.meta.blocks[0].streams
    head = read_head(path)
    assert (head.rows, head.level, head.positions, head.replaces) == (5000, 0, {"ring": 7}, ["a.ljp"])
    assert head.data_bytes + head.index_bytes < os.path.getsize(path)


def test_values_with_newlines_use_lengths(tmp_path):
    lines = [b'<13>1 2024-01-01T00:00:00Z h app - - [x@1 k="a\nb"] first\nline k=v\nw', b"plain", b"x=1"]
    rows = sort_by_time(rows_from_lines(lines, recv_ns=1_700_000_000_000_000_000))
    assert any(b"\n" in rows.message(i) for i in range(len(rows)))
    path = str(tmp_path / "p.ljp")
    write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    with Part(path) as part:
        streams = part.meta.blocks[0].streams
        assert streams["message.data"].encoding == "bytes" and "message.len" in streams
        _same_rows(rows, part.read_all())


def test_recv_is_stored_absolute_or_relative_whichever_spans_less(tmp_path):
    rows = synthetic_rows(100)
    rows.time = rows.time[0] + np.arange(100) * 1_000_000
    path = str(tmp_path / "p.ljp")
    rows.recv = rows.time + 5_000_000  # received 5 ms after its timestamp: relative spans 0
    write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    with Part(path) as part:
        assert "_recv.rel" in part.meta.blocks[0].streams
        assert np.array_equal(part.read_block(0).recv, rows.recv)
    rows.recv = np.full(len(rows), rows.time[-1] + 10**12)  # one bulk receive: absolute spans 0
    write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    with Part(path) as part:
        assert "_recv" in part.meta.blocks[0].streams
        assert np.array_equal(part.read_block(0).recv, rows.recv)


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


@pytest.mark.parametrize("where", ["stream", "footer", "head", "trailer", "magic"])
def test_damage_is_detected(tmp_path, where):
    rows = synthetic_rows(2000)
    path = str(tmp_path / "p.ljp")
    meta = write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    size = os.path.getsize(path)
    offset = {
        "stream": meta.blocks[0].streams["message.data"].offset + 10,
        "footer": 8 + meta.data_bytes + 5,
        "head": size - 40,
        "trailer": size - 16,
        "magic": 2,
    }[where]
    _flip(path, offset)
    with pytest.raises(PartDamaged):
        with Part(path) as part:
            part.read_all()
    if where in ("head", "trailer"):
        with pytest.raises(PartDamaged):
            read_head(path)


def test_truncated_file_is_damaged(tmp_path):
    path = str(tmp_path / "p.ljp")
    write_part(path, synthetic_rows(100), PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 3)
    with pytest.raises(PartDamaged):
        Part(path)
    with pytest.raises(PartDamaged):
        read_head(path)


@pytest.mark.parametrize("derive", [False, True])
def test_version_1_stream_names_still_answer(tmp_path, derive):
    rows = synthetic_rows(3000, seed=8)
    path = str(tmp_path / "p.ljp")
    write_part(
        path, rows, PartOptions(level=0, instance="i", flush_id="f", block_rows=1024, fsync=False, derive_fields=derive)
    )
    with Part(path) as part:
        assert ("kv.derived" in part.meta.blocks[0].streams) == derive
        assert "message.len" not in part.meta.blocks[0].streams
        for b in range(len(part.meta.blocks)):
            block = part.read_block(b)
            assert np.array_equal(part.stream(b, "_recv"), block.recv)
            assert np.array_equal(part.stream(b, "message.len"), np.diff(block.msg_off))
            assert part.stream(b, "message.data").tobytes() == block.msg_data.tobytes()
            assert np.array_equal(part.stream(b, "sd.len"), np.diff(block.sd_off))
            assert np.array_equal(part.stream(b, "kv.count"), np.diff(block.kv_ptr))
            assert np.array_equal(part.stream(b, "kv.key"), block.kv_key)
            assert np.array_equal(part.stream(b, "kv.kind"), block.kv_kind)
            assert np.array_equal(part.stream(b, "kv.len"), np.diff(block.kv_off))
            assert part.stream(b, "kv.data").tobytes() == block.kv_data.tobytes()
            assert np.array_equal(part.stream(b, "host"), block.ids["host"])


def test_blocks_read_from_many_threads_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rows = synthetic_rows(8000, seed=9)
    path = str(tmp_path / "p.ljp")
    write_part(
        path, rows, PartOptions(level=0, instance="i", flush_id="f", block_rows=512, fsync=False, derive_fields=True)
    )
    with Part(path) as part:
        n = len(part.meta.blocks)
        serial = [(part.stream(b, "message.data").tobytes(), part.stream(b, "kv.data").tobytes()) for b in range(n)]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                got = list(
                    pool.map(
                        lambda b: (part.stream(b, "message.data").tobytes(), part.stream(b, "kv.data").tobytes()),
                        range(n),
                    )
                )
                assert got == serial


def test_value_spans_point_at_the_values(tmp_path):
    lines = [b"one", b"two words", b"", b"x\nwith a newline"]
    rows = sort_by_time(rows_from_lines(lines * 10, recv_ns=1_700_000_000_000_000_000))
    path = str(tmp_path / "p.ljp")
    write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", block_rows=1024, fsync=False))
    path2 = str(tmp_path / "q.ljp")
    write_part(path2, rows.take(np.arange(3)), PartOptions(level=0, instance="i", flush_id="f", fsync=False))
    for p, want in ((path, rows), (path2, rows.take(np.arange(3)))):
        with Part(p) as part:
            buf, starts, ends = part.value_spans(0, "message")
            assert [buf[s:e].tobytes() for s, e in zip(starts, ends)] == [want.message(i) for i in range(len(want))]


# tests/engine/store/data/part_v2.ljp was written by format version 2 (before the footer and
# head dictionaries) from these rows, with an index: write_part(path, synthetic_rows(300,
# seed=21), PartOptions(level=1, instance="c0ffee", flush_id="merge:part_v2.ljp", block_rows=128,
# positions={"ring": 300}, replaces=["p0_1_c0ffee_00000001.ljp"], flushes={"c0ffee-1": 1},
# created_ns=1_700_000_000_000_000_000, index_builder=make_index_builder(Storage()), zstd_level=9)).
V2_PART = os.path.join(os.path.dirname(__file__), "data", "part_v2.ljp")


def test_version_2_parts_still_read():
    from engine.store.index_read import PartIndex

    rows = synthetic_rows(300, seed=21)
    head = read_head(V2_PART)
    assert (head.version, head.rows, head.level, head.flush_id) == (2, 300, 1, "merge:part_v2.ljp")
    assert (head.positions, head.replaces, head.flushes) == (
        {"ring": 300},
        ["p0_1_c0ffee_00000001.ljp"],
        {"c0ffee-1": 1},
    )
    with Part(V2_PART) as part:
        assert part.meta.version == 2 and len(part.meta.blocks) == 3
        _same_rows(rows, part.read_all())
        idx = PartIndex(part)
        source = rows.value("source", 0)
        assert list(idx.value_rows("source", source)) == [i for i in range(300) if rows.value("source", i) == source]


@pytest.mark.parametrize("where", ["footer", "head"])
def test_damage_in_a_version_2_part_is_detected(tmp_path, where):
    import shutil

    path = str(tmp_path / "p.ljp")
    shutil.copy(V2_PART, path)
    size = os.path.getsize(path)
    with Part(path) as part:
        footer_at = 8 + part.meta.data_bytes + part.meta.index_bytes
    _flip(path, {"footer": footer_at + 7, "head": size - 40}[where])
    with pytest.raises(PartDamaged):
        with Part(path) as part:
            part.meta


def test_format_dictionaries_never_change():
    # A part is read with the dictionary it was written with: changing one makes every part
    # of that version unreadable. A new dictionary needs a new format version.
    import hashlib

    from engine.store import format_dicts

    assert hashlib.sha256(format_dicts.FOOTER_DICT_V3).hexdigest() == (
        "f302c7035316620d9015368e56c201f627ab3cd4d79f30c79029b762436b03e6"
    )
    assert hashlib.sha256(format_dicts.HEAD_DICT_V3).hexdigest() == (
        "1e7114a8867921eadac8bd91691d8c679c2bdf148b9561405b229488948dbb0d"
    )


def test_footer_whose_streams_miss_the_data_area_is_damaged(tmp_path):
    # Version 3 stores no stream offsets (they are the sums of the lengths before them), so the
    # lengths must add up to the data area: a footer that says otherwise is damaged, even with
    # a matching crc.
    import zlib

    from engine.store.part_format import TRAILER, _PartBody, encode_footer

    path = str(tmp_path / "p.ljp")
    meta = write_part(
        path, synthetic_rows(500), PartOptions(level=0, instance="i", flush_id="f", block_rows=256, fsync=False)
    )
    with open(path, "rb") as f:
        data = f.read()
    footer_len, head_len, _, head_crc, version, magic = TRAILER.unpack(data[-TRAILER.size :])
    head = data[-TRAILER.size - head_len : -TRAILER.size]
    body = _PartBody(
        version=meta.version,
        block_rows=meta.block_rows,
        blocks=meta.blocks,
        dicts=meta.dicts,
        index=meta.index,
        data_bytes=meta.data_bytes + 1,
        index_bytes=meta.index_bytes,
    )
    footer = encode_footer(body, meta.min_time, 3)
    with open(path, "wb") as f:
        f.write(
            data[: 8 + meta.data_bytes + meta.index_bytes]
            + footer
            + head
            + TRAILER.pack(len(footer), head_len, zlib.crc32(footer), head_crc, version, magic)
        )
    with Part(path) as part:
        with pytest.raises(PartDamaged, match="data area"):
            part.meta
    assert meta.blocks[0].streams["message.data"].offset > 8  # encoding left the caller's meta as it was


def test_block_times_and_offsets_round_trip(tmp_path):
    rows = synthetic_rows(3000, seed=4)
    path = str(tmp_path / "p.ljp")
    meta = write_part(path, rows, PartOptions(level=0, instance="i", flush_id="f", block_rows=1000, fsync=False))
    with Part(path) as part:
        assert part.meta.blocks == meta.blocks
        assert [(b.min_time, b.max_time) for b in part.meta.blocks] == [
            (int(rows.time[lo]), int(rows.time[lo + 999])) for lo in (0, 1000, 2000)
        ]
