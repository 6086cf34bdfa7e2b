"""Value columns cut into frames by group: the messages of a block by kind of line, the field
values by key, so that a query reads only the frames that can hold what it looks for.

Why. A block's messages were one zstd frame: a phrase found in one kind of line decompressed
(and split) every message of every block it touched, and a filter on one field key
(`status:503`) every value of every key. The time is in the decompression (~1.3 GB/s a core),
not in the test. Now a phrase or regex whose candidate rows the token bitmaps name reads the
frames of those rows only (`"Failed password"`: the frame of those lines), and `status:503`
reads the `status` values only (the per-key columns VictoriaLogs keeps, without a column per
key in the footer for keys seen a few times). Lines of one kind together also compress better.

Layout in a block's stream directory (`BlockMeta.streams`), for a column `name` whose values
are grouped by the stream GROUP_KEY[name]:

    name.data@G  (and name.len@G when its encoding is `bytes`)
                 the values of group G, in order, for each group with its own frame
    name.data    (and name.len) every other value, in order: the rest

Messages: `message.group` holds each row's frame number (u8, 0 = the rest); the kind of a line
is its app and a guess at its template (native_kernels/templates.py: its first digit-free
words). Field values: the group is the pair's key id (`kv.key`). A group gets its own frame
when it holds at least MIN_FRAME_VALUES values of the block (a frame's fixed cost and its loss
of shared context are then small), at most MAX_FRAMES of the largest; a block where that
would leave a single frame keeps the plain layout (one `name.data`). Only merged parts are cut
(`write_part` with level > 0): a flush is on the path that bounds ingest and its part lives
until the first merge. The encodings inside a frame are the column encodings
(`engine.store.encodings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.store.encodings import LINE_SEP, LINES, encode_values
from engine.store.layout import KV, KV_KEY, MESSAGE, MESSAGE_GROUP, frame_suffix, lengths_stream, values_stream
from native_kernels.gather import take_terminated, take_values
from native_kernels.templates import template_keys

if TYPE_CHECKING:  # part_writer imports this module
    from engine.store.part_format import StreamMeta
    from engine.store.part_writer import StreamWriter

# The stream holding each value's group, per grouped column: for the messages a stored frame
# number per row (1..K, 0 = the rest), for field values the pair's key id.
GROUP_KEY = {MESSAGE: MESSAGE_GROUP, KV: KV_KEY}
MIN_FRAME_VALUES = 2048
MAX_FRAMES = 32
# Mixes the app id into a template key (a 64-bit odd constant: distinct apps, distinct keys).
_APP_MIX = np.uint64(0x9E3779B97F4A7C15)


def _largest(counts: np.ndarray, total: int) -> np.ndarray:
    """Groups (indexes of `counts`) that get their own frame, ascending; empty for the plain
    layout (none is big enough, or one holds every value)."""
    big = np.flatnonzero(counts >= MIN_FRAME_VALUES)
    if len(big) > MAX_FRAMES:
        big = np.sort(big[np.argsort(-counts[big], kind="stable")[:MAX_FRAMES]])
    if len(big) == 1 and counts[big[0]] == total:
        return big[:0]
    return big


def own_groups(gids: np.ndarray) -> list[int]:
    """The groups of `gids` (small ints: field key ids) that get their own frame, ascending;
    [] for the plain layout."""
    if not len(gids):
        return []
    return [int(g) for g in _largest(np.bincount(gids.astype(np.int64)), len(gids))]


def message_frames(apps: np.ndarray, offsets: np.ndarray, data: np.ndarray) -> np.ndarray | None:
    """The frame number of each message of a block (uint8: 1..K for the K largest kinds of
    line, by app and template guess, 0 for the rest); None for the plain layout."""
    if len(apps) < MIN_FRAME_VALUES:
        return None
    keys = template_keys(data, offsets[:-1], offsets[1:]) ^ (apps.astype(np.uint64) * _APP_MIX)
    _, kind, counts = np.unique(keys, return_inverse=True, return_counts=True)
    big = _largest(counts, len(apps))
    if not len(big):
        return None
    number = np.zeros(len(counts), np.uint8)
    number[big] = np.arange(1, len(big) + 1, dtype=np.uint8)
    return number[kind]


def add_values(
    w: StreamWriter,
    s: dict[str, StreamMeta],
    name: str,
    offsets: np.ndarray,
    data: np.ndarray,
    gids: np.ndarray | None = None,
    own: list[int] | None = None,
) -> None:
    """Write the values `data[offsets[i]:offsets[i + 1]]` of column `name` into the block's
    streams `s` through the part's StreamWriter `w`: the values of each group in `own` (by
    `gids`, one per value) in a frame of their own, the others together; without groups, one
    frame."""
    if not own or gids is None:
        _add(w, s, name, "", offsets, data)
        return
    # When no value of the block holds the separator, no frame's does: each is `lines`, gathered
    # straight from the block's values (a take, then a join, copied every byte twice).
    lines = not (data[int(offsets[0]) : int(offsets[-1])] == LINE_SEP).any()
    for g in own:
        _add_taken(w, s, name, frame_suffix(g), offsets, data, np.flatnonzero(gids == g), lines)
    _add_taken(w, s, name, "", offsets, data, np.flatnonzero(~np.isin(gids, own)), lines)


def _add_taken(
    w: StreamWriter,
    s: dict[str, StreamMeta],
    name: str,
    suffix: str,
    offsets: np.ndarray,
    data: np.ndarray,
    idx: np.ndarray,
    lines: bool,
) -> None:
    """`_add` of the values `idx`; `lines`: none of the block's values holds LINE_SEP."""
    if lines:
        s[values_stream(name, suffix)] = w.add(take_terminated(offsets, data, idx, LINE_SEP), LINES)
        return
    off, dat = take_values(offsets, data, idx)
    _add(w, s, name, suffix, off, dat)


def _add(
    w: StreamWriter, s: dict[str, StreamMeta], name: str, suffix: str, offsets: np.ndarray, data: np.ndarray
) -> None:
    encoding, stream, lengths = encode_values(offsets, data)
    if lengths is not None:
        s[lengths_stream(name, suffix)] = w.add(lengths)
    s[values_stream(name, suffix)] = w.add(stream, encoding)
