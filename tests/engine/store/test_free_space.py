"""Free space of the data dir's volume: the minimum resolved from `storage.min_free_bytes`, the
errors that mean "no room", and statvfs of a real (small) tmpfs."""

from __future__ import annotations

import errno

from engine.config import load
from engine.store.free_space import describe, is_disk_full, min_free_bytes, volume
from engine.units import AutoByteSize
from tests.tmpfs import fill, small_tmpfs

GIB = 1 << 30


def test_auto_minimum_is_5_percent_of_the_volume_at_most_1gib():
    auto = load(None).storage.min_free_bytes
    assert auto.is_auto and str(auto) == "auto"
    assert min_free_bytes(auto, 20 << 20) == (20 << 20) // 20  # a 20 MiB volume keeps 1 MiB
    assert min_free_bytes(auto, 10 * GIB) == GIB // 2
    assert min_free_bytes(auto, 500 * GIB) == GIB


def test_an_explicit_minimum_or_0_overrides_auto():
    assert min_free_bytes(load(None, {"storage.min_free_bytes": "0"}).storage.min_free_bytes, 500 * GIB) == 0
    explicit = load(None, {"storage.min_free_bytes": "200MiB"}).storage.min_free_bytes
    assert min_free_bytes(explicit, 500 * GIB) == 200 << 20 and str(explicit) == "200MiB"
    assert min_free_bytes(AutoByteSize.parse(4096), 1 << 20) == 4096


def test_enospc_and_edquot_mean_disk_full_other_errors_do_not():
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EIO, "Input/output error"))
    assert not is_disk_full(ValueError("no room"))
    assert [describe(n) for n in (512, 800 << 10, 12 << 20, 3 * GIB // 2)] == [
        "512 B",
        "800 KiB",
        "12.0 MiB",
        "1.5 GiB",
    ]


def test_volume_of_a_real_tmpfs(tmp_path):
    with small_tmpfs(str(tmp_path / "disk"), 2 << 20) as disk:
        total, free = volume(disk)
        assert total == 2 << 20 and free == total
        fill(disk, leave_free=512 << 10)
        assert volume(disk).free == 512 << 10
