"""Every on-disk name of the store in one place: files and folders, and the names inside a part.

Files and folders:

    <data_dir>/
      <YYYYMMDD>/                      one partition per UTC day of the rows' `_time`
        p<L>_<min_s>_<instance>_<seq>.ljp   a part: level L, first row's second, writer instance, sequence
        .tmp-<part name>               a part being written; never read, removed at writer start
      quarantine/                      damaged parts, moved aside with a .reason file beside each
      logjet.id                        the data dir's random id, made at its first `logjet serve`: which
                                       instance folders in /dev/shm are its (engine.lifecycle.orphans)

    <kernel cache>/warm.json          every kernel compiled and cached there (engine.lifecycle.start_report)

Part names sort by level then time; the instance and sequence make them unique across runs
and let a restarted writer find the parts its predecessor wrote.

Streams of a part block (the keys of `BlockMeta.streams`, engine.store.part_format; encodings
in engine.store.encodings). `C` is a value column (`message`, `sd`, `kv`), `@G` a frame suffix:

    name                 constant / function           holds
    _time                TIME                          each row's time (delta)
    _recv                RECV                          receive times (for), or instead:
    _recv.rel            RECV_REL                      receive time - `_time` (for)
    severity facility format flags                     u8 columns, named as in Rows (U8_COLUMNS)
    host app procid msgid source                       dictionary ids, named as in Rows (DICT_COLUMNS)
    C.data               values_stream(C)              the values (`lines`, or `bytes` with:)
    C.len                lengths_stream(C)             the values' lengths
    C.data@G  C.len@G    values_stream(C, frame_suffix(G))   group G's values in a frame of their own
                         (engine.store.value_frames); `frame_groups` reads the groups back
    message.group        MESSAGE_GROUP                 each row's message frame number
    kv.count             KV_COUNT                      field pairs per row
    kv.key               KV_KEY                        each pair's key id (dictionary `fieldkey`)
    kv.kind              KV_KIND                       each pair's kind (KV_FIELD, KV_SD, KV_ALERT)
    kv.derived           KV_DERIVED                    per row: pairs derived from the message
                                                       (engine.store.derived_fields)

A part's dictionaries (`PartMeta.dicts`) are keyed by the names of engine.store.rows
DICTIONARIES. Index (engine.store.index_format): the directory fields are IndexMeta's; a field key's
bitmap set is stored under FIELD_INDEX_PREFIX + key, a base column's under the column's name.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import re
from typing import Iterable

PART_SUFFIX = ".ljp"
TMP_PREFIX = ".tmp-"
QUARANTINE = "quarantine"
DATA_DIR_ID = "logjet.id"
# In the kernel cache folder (native_kernels.cache_folder), beside numba's files: written once every
# kernel is compiled and cached, with what loading them took (engine.lifecycle.start_report).
KERNELS_WARM = "warm.json"
_PARTITION_RE = re.compile(r"^\d{8}$")
_PART_RE = re.compile(r"^p(\d+)_(\d+)_([0-9a-f-]+)_(\d+)\.ljp$")
NS_PER_DAY = 86400 * 1_000_000_000


def partition_of(time_ns: int) -> str:
    """The partition folder name of a timestamp: its UTC day as YYYYMMDD."""
    day = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=time_ns // NS_PER_DAY)
    return day.strftime("%Y%m%d")


@functools.lru_cache(maxsize=4096)
def partition_start_ns(name: str) -> int:
    # Kept: every query asks it of every day folder, and strptime costs ~30 us a call.
    day = _dt.datetime.strptime(name, "%Y%m%d")
    return (day - _dt.datetime(1970, 1, 1)).days * NS_PER_DAY


def part_name(level: int, min_time_ns: int, instance: str, seq: int) -> str:
    return f"p{level}_{max(0, min_time_ns) // 1_000_000_000}_{instance}_{seq:08d}{PART_SUFFIX}"


def parse_part_name(name: str) -> tuple[int, int, str, int] | None:
    """(level, min second, instance, seq) of a part file name, or None for other files."""
    m = _PART_RE.match(name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))


def partitions(data_dir: str) -> list[str]:
    """Partition folder names, oldest first."""
    try:
        names = os.listdir(data_dir)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _PARTITION_RE.match(n) and os.path.isdir(os.path.join(data_dir, n)))


def part_paths(data_dir: str, partition: str) -> list[str]:
    folder = os.path.join(data_dir, partition)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(folder, n) for n in names if n.endswith(PART_SUFFIX) and not n.startswith("."))


def all_part_paths(data_dir: str) -> list[str]:
    return [p for day in partitions(data_dir) for p in part_paths(data_dir, day)]


def tmp_path(final_path: str) -> str:
    folder, name = os.path.split(final_path)
    return os.path.join(folder, TMP_PREFIX + name)


def quarantine_dir(data_dir: str) -> str:
    return os.path.join(data_dir, QUARANTINE)


# --- names inside a part ----------------------------------------------------------------------
TIME = "_time"
RECV = "_recv"
RECV_REL = "_recv.rel"
MESSAGE, SD, KV = "message", "sd", "kv"  # the value columns
_DATA, _LEN, _FRAME = ".data", ".len", "@"


def values_stream(column: str, frame: str = "") -> str:
    """The stream of value column `column`'s values (of the frame with suffix `frame`)."""
    return column + _DATA + frame


def lengths_stream(column: str, frame: str = "") -> str:
    """The stream of the lengths of `values_stream(column, frame)` (encoding `bytes` only)."""
    return column + _LEN + frame


def frame_suffix(group: int) -> str:
    """The suffix of the streams of group `group`'s own frame."""
    return f"{_FRAME}{group}"


def frame_groups(streams: Iterable[str], column: str) -> dict[int, str]:
    """{group: suffix} of the groups of `column` with a frame of their own among `streams`."""
    prefix = values_stream(column, _FRAME)
    plain = len(values_stream(column))
    return {int(name[len(prefix) :]): name[plain:] for name in streams if name.startswith(prefix)}


MESSAGE_DATA, MESSAGE_LEN = values_stream(MESSAGE), lengths_stream(MESSAGE)
SD_DATA, SD_LEN = values_stream(SD), lengths_stream(SD)
KV_DATA, KV_LEN = values_stream(KV), lengths_stream(KV)
MESSAGE_GROUP = "message.group"
KV_COUNT = "kv.count"
KV_KEY = "kv.key"
KV_KIND = "kv.kind"
KV_DERIVED = "kv.derived"
FIELD_INDEX_PREFIX = "field:"
