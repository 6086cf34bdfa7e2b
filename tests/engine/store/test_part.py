"""Part files: rows round-trip through blocks and encodings; damage is detected, not served."""

from __future__ import annotations

import os

import numpy as np
import pytest

from engine.store.part_reader import Part, PartDamaged, PartOptions, write_part
from engine.store.rows import DICT_COLUMNS, KV_FIELD, KV_SD, Rows, concat


def make_rows(n: int, seed: int = 1) -> Rows:
    rng = np.random.default_rng(seed)
    msgs = [f"message {i} {'x' * int(rng.integers(0, 30))}".encode() for i in range(n)]
    msg_off = np.zeros(n + 1, np.int64)
    np.cumsum([len(m) for m in msgs], out=msg_off[1:])
    sds = [b'[a@1 k="v"]' if i % 3 == 0 else b"" for i in range(n)]
    sd_off = np.zeros(n + 1, np.int64)
    np.cumsum([len(s) for s in sds], out=sd_off[1:])
    pairs = [[(1, KV_FIELD, f"v{i}".encode())] + ([(2, KV_SD, b"v")] if i % 3 == 0 else []) for i in range(n)]
    kv_ptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(p) for p in pairs], out=kv_ptr[1:])
    flat = [p for ps in pairs for p in ps]
    vals = [v for _, _, v in flat]
    kv_off = np.zeros(len(vals) + 1, np.int64)
    np.cumsum([len(v) for v in vals], out=kv_off[1:])
    time = np.sort(rng.integers(1_700_000_000 * 10**9, 1_700_000_100 * 10**9, n))
    return Rows(
        time=time,
        recv=time + rng.integers(-(10**9), 10**9, n),
        severity=rng.integers(0, 8, n).astype(np.uint8),
        facility=np.full(n, 255, np.uint8),
        format=rng.integers(0, 4, n).astype(np.uint8),
        flags=np.zeros(n, np.uint8),
        ids={c: rng.integers(0, 4, n).astype(np.uint32) for c in DICT_COLUMNS},
        dicts={**{c: [f"{c}-{k}".encode() for k in range(3)] for c in DICT_COLUMNS}, "fieldkey": [b"k", b"a@1.k"]},
        msg_off=msg_off,
        msg_data=np.frombuffer(b"".join(msgs), np.uint8),
        sd_off=sd_off,
        sd_data=np.frombuffer(b"".join(sds), np.uint8),
        kv_ptr=kv_ptr,
        kv_key=np.array([k for k, _, _ in flat], np.uint32),
        kv_kind=np.array([t for _, t, _ in flat], np.uint8),
        kv_off=kv_off,
        kv_data=np.frombuffer(b"".join(vals), np.uint8),
        raw_bytes=12345,
    )


def same_rows(a: Rows, b: Rows) -> None:
    assert len(a) == len(b)
    assert np.array_equal(a.time, b.time) and np.array_equal(a.recv, b.recv)
    for col in ("severity", "facility", "format", "flags"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    for i in range(len(a)):
        assert a.message(i) == b.message(i) and a.sd(i) == b.sd(i)
        for col in DICT_COLUMNS:
            assert a.value(col, i) == b.value(col, i)
        assert a.fields(i) == b.fields(i)


def test_round_trip_across_blocks(tmp_path):
    rows = make_rows(5000)
    path = str(tmp_path / "p.ljp")
    meta = write_part(
        path, rows, PartOptions(level=0, instance="t", flush_id="f", block_rows=1024, positions={"col-p0": 9})
    )
    assert len(meta.blocks) == 5 and meta.positions == {"col-p0": 9} and meta.raw_bytes == 12345
    assert not os.path.exists(str(tmp_path / ".tmp-p.ljp"))
    with Part(path) as part:
        same_rows(rows, part.read_all())
        assert part.meta.min_time == rows.time[0] and part.meta.max_time == rows.time[-1]


def test_take_and_concat_keep_rows_intact():
    rows = make_rows(300)
    idx = np.array([5, 0, 299, 17, 17])
    picked = rows.take(idx)
    for k, i in enumerate(idx):
        assert picked.message(k) == rows.message(i) and picked.fields(k) == rows.fields(i)
    both = concat([rows.take(np.arange(0, 100)), rows.take(np.arange(100, 300))])
    same_rows(rows, both)


def test_unsorted_rows_are_refused(tmp_path):
    rows = make_rows(10)
    with pytest.raises(ValueError):
        write_part(
            str(tmp_path / "x.ljp"), rows.take(np.arange(9, -1, -1)), PartOptions(level=0, instance="t", flush_id="f")
        )


@pytest.mark.parametrize("where", ["stream", "footer", "trailer", "truncated"])
def test_damage_is_detected(tmp_path, where):
    rows = make_rows(2000)
    path = tmp_path / "d.ljp"
    write_part(str(path), rows, PartOptions(level=0, instance="t", flush_id="f"))
    data = bytearray(path.read_bytes())
    if where == "stream":
        data[100] ^= 0xFF
    elif where == "footer":
        data[-40] ^= 0xFF
    elif where == "trailer":
        data[-1] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(PartDamaged):
        with Part(str(path)) as part:
            part.read_all()
