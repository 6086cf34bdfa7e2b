"""Building `Rows` and parts from plain Python records, for query tests.

A record is a dict: `time`, `recv` (ns), `severity`, `facility`, `format`, `flags` (ints),
`host` `app` `procid` `msgid` `source` (bytes or None), `message` (bytes) and `fields`: a list
of (key bytes, kind, value bytes) with kind KV_FIELD or KV_SD.
"""

from __future__ import annotations

import os

import numpy as np

from engine.store.layout import part_name, partition_of
from engine.store.part_reader import PartOptions, write_part
from engine.store.rows import DICT_COLUMNS, KV_FIELD, Rows

DEFAULTS = {
    "severity": 6,
    "facility": 1,
    "format": 1,
    "flags": 0,
    "host": None,
    "app": None,
    "procid": None,
    "msgid": None,
    "source": None,
    "message": b"",
    "fields": [],
}


def record(**kw) -> dict:
    r = {**DEFAULTS, **kw}
    r.setdefault("recv", r["time"])
    r["fields"] = [p if len(p) == 3 else (p[0], KV_FIELD, p[1]) for p in r["fields"]]
    return r


def _pack(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    off = np.zeros(len(values) + 1, np.int64)
    np.cumsum([len(v) for v in values], out=off[1:])
    return off, np.frombuffer(b"".join(values), np.uint8).copy()


def build_rows(records: list[dict]) -> Rows:
    dicts: dict[str, list[bytes]] = {c: [] for c in DICT_COLUMNS + ("fieldkey",)}
    index: dict[str, dict[bytes, int]] = {c: {} for c in dicts}

    def intern(col, v):
        if v is None:
            return 0
        i = index[col].get(v)
        if i is None:
            dicts[col].append(v)
            i = index[col][v] = len(dicts[col])
        return i

    ids = {c: np.array([intern(c, r[c]) for r in records], np.uint32) for c in DICT_COLUMNS}
    msg_off, msg_data = _pack([r["message"] for r in records])
    pairs = [p for r in records for p in r["fields"]]
    kv_ptr = np.zeros(len(records) + 1, np.int64)
    np.cumsum([len(r["fields"]) for r in records], out=kv_ptr[1:])
    kv_off, kv_data = _pack([v for _, _, v in pairs])
    u8 = {c: np.array([r[c] for r in records], np.uint8) for c in ("severity", "facility", "format", "flags")}
    return Rows(
        time=np.array([r["time"] for r in records], np.int64),
        recv=np.array([r["recv"] for r in records], np.int64),
        **u8,
        ids=ids,
        dicts=dicts,
        msg_off=msg_off,
        msg_data=msg_data,
        sd_off=np.zeros(len(records) + 1, np.int64),
        sd_data=np.empty(0, np.uint8),
        kv_ptr=kv_ptr,
        kv_key=np.array([intern("fieldkey", k) for k, _, _ in pairs], np.uint32),
        kv_kind=np.array([kind for _, kind, _ in pairs], np.uint8),
        kv_off=kv_off,
        kv_data=kv_data,
    )


def write_records(
    data_dir: str, records: list[dict], block_rows: int = 65536, seq: int = 1, level: int = 0, index_builder=None
) -> list[str]:
    """Write records as parts (split by UTC day, as the writer does); returns their paths."""
    records = sorted(records, key=lambda r: r["time"])
    by_day: dict[str, list[dict]] = {}
    for r in records:
        by_day.setdefault(partition_of(r["time"]), []).append(r)
    paths = []
    for day, recs in sorted(by_day.items()):
        folder = os.path.join(data_dir, day)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, part_name(level, recs[0]["time"], "test", seq * 100 + len(paths)))
        write_part(
            path,
            build_rows(recs),
            PartOptions(
                level=level,
                instance="test",
                flush_id=f"f{seq}",
                block_rows=block_rows,
                fsync=False,
                index_builder=index_builder,
            ),
        )
        paths.append(path)
    return paths


def block_blooms(rows: Rows, blocks, writer, bits: int = 7) -> list[int]:
    """Append the blooms blob of a part written before index version 5 (one filter per block,
    folded token hashes only, as version 3 wrote them) through `writer`; its [offset, clen]
    for `IndexMeta.bloom`. For index builders that stand in for an older version."""
    from engine.store.index_format import encode_blooms
    from native_kernels.bloom import build_bloom
    from native_kernels.tokens import token_hashes

    filters, lo = [], 0
    for block in blocks:
        hi = lo + block.rows
        _, hashes = token_hashes(rows.msg_data, rows.msg_off[lo:hi], rows.msg_off[lo + 1 : hi + 1])
        filters.append(build_bloom(hashes, bits))
        lo = hi
    return list(writer.append(writer.compress(encode_blooms(filters, bits), fast=True)))


def frame_blooms_v5(rows: Rows, blocks, writer, frames, bits: int = 10) -> list[int]:
    """Append the frame blooms blob of a part written by index version 5 (a filter per message
    frame of each block, or one `bits` - 3 filter for a block not cut, each holding every token
    of its rows, numbers too, and the spelling hashes of those written with an upper-case
    letter) through `writer`; its [offset, clen] for `IndexMeta.frame_blooms`. For index
    builders that stand in for version 5 (`frames`: as `write_part` hands them)."""
    from engine.store.index_format import encode_frame_blooms
    from native_kernels.bloom import build_bloom
    from native_kernels.tokens import cased_hashes, token_hashes_cased

    filters, lo = [], 0
    for block, numbers in zip(blocks, frames):
        hi = lo + block.rows
        ro, hashes, at, signatures, _ = token_hashes_cased(
            rows.msg_data, rows.msg_off[lo:hi], rows.msg_off[lo + 1 : hi + 1]
        )
        spelled = cased_hashes(hashes[at], signatures)
        if numbers is None:
            filters.append([build_bloom(hashes, bits - 3, spelled)])
        else:
            frame = np.repeat(np.asarray(numbers), np.diff(ro))  # each token's frame
            groups = range(int(numbers.max()) + 1)
            filters.append([build_bloom(hashes[frame == g], bits, spelled[frame[at] == g]) for g in groups])
        lo = hi
    return list(writer.append(writer.compress(encode_frame_blooms(filters, bits), fast=True)))


def only_scope(data_dir: str):
    """The scope of the one part in `data_dir`, which must have an index."""
    from engine.query.catalog import Catalog

    (scope,) = Catalog(data_dir).scopes()
    assert scope.index is not None
    return scope


def count_rows(data_dir: str, query: str) -> int:
    """The rows of `data_dir` that the filter `query` matches, counted by the engine."""
    from engine.query.catalog import Catalog
    from engine.query.execute import PreparedQuery

    (obj,) = list(PreparedQuery(f"{query} | stats count() as n").objects(Catalog(data_dir)))
    return int(obj["n"])
