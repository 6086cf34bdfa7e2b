"""`Rows`: a set of rows as columns in memory, the unit the writer builds parts from and the
query reads parts into.

Fixed-width columns are numpy arrays of length n. Dictionary columns (`DICT_COLUMNS`) hold ids
into `dicts[column]`, where id 0 means "no value" and id i is `dicts[column][i - 1]`.
Variable-length columns (`message`, `sd`) are (offsets int64[n+1], data uint8). Fields are a
CSR group per row: row r owns pairs `kv_ptr[r]:kv_ptr[r+1]`, each with a key id (into
`dicts["fieldkey"]`), a kind (KV_FIELD, KV_SD or KV_ALERT) and a value in (kv_off, kv_data).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from native_kernels.gather import csr_take, take_values
from native_kernels.syslog import FORMATS as FORMATS, NO_VALUE as NO_VALUE  # the parser's codes, re-exported

DICT_COLUMNS = ("host", "app", "procid", "msgid", "source")
FIELD_KEYS = "fieldkey"  # the dictionary of field keys (`kv_key` ids)
DICTIONARIES = DICT_COLUMNS + (FIELD_KEYS,)  # every dictionary, keyed so in `Rows.dicts` and in a part
U8_COLUMNS = ("severity", "facility", "format", "flags")

# Row flags (the `flags` column).
ROW_TRUNCATED = 1
ROW_BEST_EFFORT = 2
ROW_BOM = 4
ROW_FRAMING_ERROR = 8
ROW_PARSE_FALLBACK = 16  # the row's parser gave up on it (JSON the decoder rejects, a failing row):
# kept as plain text
ROW_HOST_FROM_SOURCE = 32  # the header named no host: `host` is the sender's address
FLAG_NAMES = {
    ROW_TRUNCATED: "truncated",
    ROW_BEST_EFFORT: "best_effort",
    ROW_BOM: "bom",
    ROW_FRAMING_ERROR: "framing_error",
    ROW_PARSE_FALLBACK: "parse_fallback",
    ROW_HOST_FROM_SOURCE: "host_from_source",
}

KV_FIELD = 0  # a field: key=value in the message or a JSON key
KV_SD = 1  # an RFC 5424 structured-data param, keyed "<sd-id>.<param>"
KV_ALERT = 2  # an alert rule the row matched: key "alert", value the rule's name


@dataclass
class Rows:
    time: np.ndarray
    recv: np.ndarray
    severity: np.ndarray
    facility: np.ndarray
    format: np.ndarray
    flags: np.ndarray
    ids: dict[str, np.ndarray]
    dicts: dict[str, list[bytes]]
    msg_off: np.ndarray
    msg_data: np.ndarray
    sd_off: np.ndarray
    sd_data: np.ndarray
    kv_ptr: np.ndarray
    kv_key: np.ndarray
    kv_kind: np.ndarray
    kv_off: np.ndarray
    kv_data: np.ndarray
    raw_bytes: int = 0  # bytes of the frames the rows were parsed from (a share, for a subset)

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def empty(cls) -> "Rows":
        z8 = np.empty(0, np.uint8)
        return cls(
            time=np.empty(0, np.int64),
            recv=np.empty(0, np.int64),
            severity=z8,
            facility=z8,
            format=z8,
            flags=z8,
            ids={c: np.empty(0, np.uint32) for c in DICT_COLUMNS},
            dicts={c: [] for c in DICTIONARIES},
            msg_off=np.zeros(1, np.int64),
            msg_data=z8,
            sd_off=np.zeros(1, np.int64),
            sd_data=z8,
            kv_ptr=np.zeros(1, np.int64),
            kv_key=np.empty(0, np.uint32),
            kv_kind=z8,
            kv_off=np.zeros(1, np.int64),
            kv_data=z8,
        )

    def take(self, idx: np.ndarray) -> "Rows":
        """The rows `idx` in that order (dictionaries are shared, not copied)."""
        idx = np.asarray(idx, dtype=np.int64)
        msg_off, msg_data = take_values(self.msg_off, self.msg_data, idx)
        sd_off, sd_data = take_values(self.sd_off, self.sd_data, idx)
        kv_ptr, members = csr_take(self.kv_ptr, idx)
        kv_off, kv_data = take_values(self.kv_off, self.kv_data, members)
        return Rows(
            time=self.time[idx],
            recv=self.recv[idx],
            severity=self.severity[idx],
            facility=self.facility[idx],
            format=self.format[idx],
            flags=self.flags[idx],
            ids={c: v[idx] for c, v in self.ids.items()},
            dicts=self.dicts,
            msg_off=msg_off,
            msg_data=msg_data,
            sd_off=sd_off,
            sd_data=sd_data,
            kv_ptr=kv_ptr,
            kv_key=self.kv_key[members],
            kv_kind=self.kv_kind[members],
            kv_off=kv_off,
            kv_data=kv_data,
            raw_bytes=self.raw_bytes,
        )

    def message(self, i: int) -> bytes:
        return self.msg_data[self.msg_off[i] : self.msg_off[i + 1]].tobytes()

    def sd(self, i: int) -> bytes:
        return self.sd_data[self.sd_off[i] : self.sd_off[i + 1]].tobytes()

    def value(self, column: str, i: int) -> bytes | None:
        vid = int(self.ids[column][i])
        return self.dicts[column][vid - 1] if vid else None

    def fields(self, i: int) -> list[tuple[bytes, int, bytes]]:
        """(key, kind, value) of row i's pairs."""
        keys = self.dicts[FIELD_KEYS]
        out = []
        for j in range(int(self.kv_ptr[i]), int(self.kv_ptr[i + 1])):
            value = self.kv_data[self.kv_off[j] : self.kv_off[j + 1]].tobytes()
            out.append((keys[int(self.kv_key[j]) - 1], int(self.kv_kind[j]), value))
        return out


_NO_VALUES: list[bytes] = []
# `sort_order` sorts in numpy up to this many bytes of fixed-width array (values x the longest).
_SORT_ARRAY_BYTES = 64 << 20


def _merge_dictionaries(parts: list[Rows]) -> tuple[dict[str, list[bytes]], dict[str, list[np.ndarray]]]:
    """A merged dictionary per column holding only the values the rows use, and for every part
    a table mapping its ids to merged ids. Parts often share one dictionary list (all blocks of
    a part, all batches of one parser), so each distinct list is walked once, and only at the
    ids in use: Python touches distinct values, never rows."""
    dicts: dict[str, list[bytes]] = {}
    remaps: dict[str, list[np.ndarray]] = {}
    for col in DICTIONARIES:
        used: dict[int, tuple[list[bytes], list[np.ndarray]]] = {}
        for p in parts:
            values = p.dicts.get(col, _NO_VALUES)
            ids = p.kv_key if col == FIELD_KEYS else p.ids[col]
            entry = used.setdefault(id(values), (values, []))
            entry[1].append(ids)
        # Each value is looked at once in C (dict.fromkeys, map): a part's process ids are tens
        # of thousands of distinct values, and a Python loop over them was a sixth of a merge.
        present_of: dict[int, npt.NDArray[np.int64]] = {}
        for key, (values, id_arrays) in used.items():
            # Presence by counting, O(n): np.unique would sort every id of the flush.
            counts = np.zeros(len(values) + 1, np.int64)
            for ids in id_arrays:
                if len(ids):
                    counts += np.bincount(ids, minlength=len(values) + 1)[: len(values) + 1]
            counts[0] = 0
            present_of[key] = np.flatnonzero(counts)
        chosen = {key: list(map(used[key][0].__getitem__, (ids - 1).tolist())) for key, ids in present_of.items()}
        merged = dict.fromkeys(itertools.chain.from_iterable(chosen.values()))
        number = dict(zip(merged, range(1, len(merged) + 1)))
        tables: dict[int, np.ndarray] = {}
        for key, (values, _) in used.items():
            table = np.zeros(len(values) + 1, np.uint32)
            table[present_of[key]] = np.fromiter(map(number.__getitem__, chosen[key]), np.uint32, len(chosen[key]))
            tables[key] = table
        dicts[col] = list(merged)
        remaps[col] = [tables[id(p.dicts.get(col, _NO_VALUES))] for p in parts]
    return dicts, remaps


def sort_order(values: list[bytes], max_array_bytes: int = _SORT_ARRAY_BYTES) -> npt.NDArray[np.int64]:
    """The order of `values` (distinct) by (length, bytes). In numpy when the values fit a
    fixed-width array of at most `max_array_bytes` (equal lengths compare as the padded
    strings do, byte by byte): a Python sort of (length, bytes) keys was a tenth of a level-1
    merge, with tens of thousands of process ids; else with that sort."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    width = max(1, int(lengths.max(initial=0)))
    if width * len(values) <= max_array_bytes:
        return np.lexsort((np.array(values, dtype=f"S{width}"), lengths))
    keys = list(zip(lengths.tolist(), values))
    return np.asarray(sorted(range(len(values)), key=keys.__getitem__), np.int64)


def compact(rows: Rows) -> Rows:
    """The same rows with dictionaries cut down to the values in use."""
    dicts, remaps = _merge_dictionaries([rows])
    rows.ids = {c: remaps[c][0][rows.ids[c]] for c in DICT_COLUMNS}
    rows.kv_key = remaps[FIELD_KEYS][0][rows.kv_key]
    rows.dicts = dicts
    return rows


def concat(parts: list[Rows]) -> Rows:
    """One `Rows` from several, re-coding every dictionary id into a merged dictionary that
    holds only the values in use."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Rows.empty()
    dicts, remaps = _merge_dictionaries(parts)

    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays) if len(arrays) > 1 else np.asarray(arrays[0]).copy()

    def cat_var(offs: list[np.ndarray], datas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        lengths = cat([np.diff(o) for o in offs])
        out = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=out[1:])
        starts = [int(o[0]) for o in offs]
        ends = [int(o[-1]) for o in offs]
        return out, cat([d[s:e] for d, s, e in zip(datas, starts, ends)])

    msg_off, msg_data = cat_var([p.msg_off for p in parts], [p.msg_data for p in parts])
    sd_off, sd_data = cat_var([p.sd_off for p in parts], [p.sd_data for p in parts])
    kv_ptr = np.zeros(sum(len(p) for p in parts) + 1, np.int64)
    np.cumsum(cat([np.diff(p.kv_ptr) for p in parts]), out=kv_ptr[1:])
    kv_sel = [slice(int(p.kv_ptr[0]), int(p.kv_ptr[-1])) for p in parts]
    kv_off, kv_data = cat_var(
        [p.kv_off[s.start : s.stop + 1] for p, s in zip(parts, kv_sel)], [p.kv_data for p in parts]
    )
    return Rows(
        time=cat([p.time for p in parts]),
        recv=cat([p.recv for p in parts]),
        severity=cat([p.severity for p in parts]),
        facility=cat([p.facility for p in parts]),
        format=cat([p.format for p in parts]),
        flags=cat([p.flags for p in parts]),
        ids={c: cat([remaps[c][k][p.ids[c]] for k, p in enumerate(parts)]) for c in DICT_COLUMNS},
        dicts=dicts,
        msg_off=msg_off,
        msg_data=msg_data,
        sd_off=sd_off,
        sd_data=sd_data,
        kv_ptr=kv_ptr,
        kv_key=cat([remaps[FIELD_KEYS][k][p.kv_key[s]] for k, (p, s) in enumerate(zip(parts, kv_sel))]),
        kv_kind=cat([p.kv_kind[s] for p, s in zip(parts, kv_sel)]),
        kv_off=kv_off,
        kv_data=kv_data,
        raw_bytes=sum(p.raw_bytes for p in parts),
    )


def sort_dictionaries(rows: Rows) -> Rows:
    """The same rows with every dictionary in (length, bytes) order and the ids remapped; the
    input is not changed. A part stores its dictionaries in its footer, and sorted values share
    prefixes with their neighbours: 64k process ids took 182 KB in arrival order, 33 KB sorted
    (for digit strings this order is numeric order)."""
    ids = dict(rows.ids)
    dicts = dict(rows.dicts)
    kv_key = rows.kv_key
    for col in DICTIONARIES:
        values = dicts.get(col, _NO_VALUES)
        order = sort_order(values)
        if np.array_equal(order, np.arange(len(values))):
            continue
        table = np.zeros(len(values) + 1, np.uint32)
        table[order + 1] = np.arange(1, len(values) + 1, dtype=np.uint32)
        dicts[col] = list(map(values.__getitem__, order.tolist()))
        if col == FIELD_KEYS:
            kv_key = table[kv_key]
        else:
            ids[col] = table[ids[col]]
    return replace(rows, ids=ids, dicts=dicts, kv_key=kv_key)
