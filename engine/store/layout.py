"""Every on-disk name of the store in one place: partitions, parts, temporary and quarantined files.

    <data_dir>/
      <YYYYMMDD>/                      one partition per UTC day of the rows' `_time`
        p<L>_<min_s>_<instance>_<seq>.ljp   a part: level L, first row's second, writer instance, sequence
        .tmp-<part name>               a part being written; never read, removed at writer start
      quarantine/                      damaged parts, moved aside with a .reason file beside each

Part names sort by level then time; the instance and sequence make them unique across runs
and let a restarted writer find the parts its predecessor wrote.
"""

from __future__ import annotations

import datetime as _dt
import os
import re

PART_SUFFIX = ".ljp"
TMP_PREFIX = ".tmp-"
QUARANTINE = "quarantine"
_PARTITION_RE = re.compile(r"^\d{8}$")
_PART_RE = re.compile(r"^p(\d+)_(\d+)_([0-9a-f-]+)_(\d+)\.ljp$")
NS_PER_DAY = 86400 * 1_000_000_000


def partition_of(time_ns: int) -> str:
    """The partition folder name of a timestamp: its UTC day as YYYYMMDD."""
    day = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=time_ns // NS_PER_DAY)
    return day.strftime("%Y%m%d")


def partition_start_ns(name: str) -> int:
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
