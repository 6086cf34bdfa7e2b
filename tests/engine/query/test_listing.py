"""Folder listings are kept while the folder's mtime is unchanged and old enough, and read again
the moment it changes: real folders, mtimes set with os.utime."""

from __future__ import annotations

import os
import time

from engine.query.listing import RACY_NS, Listings


def _names(folder: str) -> tuple[str, ...]:
    return tuple(sorted(os.listdir(folder)))


def _age(folder: str, ns: int) -> int:
    """Set the folder's mtime `ns` in the past; returns it."""
    mtime = time.time_ns() - ns
    os.utime(folder, ns=(mtime, mtime))
    return mtime


def test_a_settled_folder_is_listed_once_until_it_changes(tmp_path):
    folder = str(tmp_path)
    (tmp_path / "a").touch()
    mtime = _age(folder, 2 * RACY_NS)
    listings = Listings()
    assert listings.get(folder, lambda: _names(folder)) == ("a",)
    # A change the mtime does not show (within its tick) is not seen: the listing is kept.
    (tmp_path / "b").touch()
    os.utime(folder, ns=(mtime, mtime))
    assert listings.get(folder, lambda: _names(folder)) == ("a",)
    # Any change of the mtime is.
    _age(folder, 3 * RACY_NS)
    assert listings.get(folder, lambda: _names(folder)) == ("a", "b")


def test_a_folder_changed_lately_is_listed_every_time(tmp_path):
    folder = str(tmp_path)
    (tmp_path / "a").touch()
    mtime = _age(folder, RACY_NS // 4)
    listings = Listings()
    assert listings.get(folder, lambda: _names(folder)) == ("a",)
    (tmp_path / "b").touch()
    os.utime(folder, ns=(mtime, mtime))  # a second change within the same tick
    assert listings.get(folder, lambda: _names(folder)) == ("a", "b")


def test_a_missing_folder_is_read_as_its_reader_says(tmp_path):
    listings = Listings()
    gone = str(tmp_path / "gone")
    assert listings.get(gone, lambda: ()) == ()
    os.mkdir(gone)
    _age(gone, 2 * RACY_NS)
    assert listings.get(gone, lambda: ("x",)) == ("x",)
    os.rmdir(gone)
    assert listings.get(gone, lambda: ()) == ()
