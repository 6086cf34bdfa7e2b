"""Value columns cut into frames by a group key: the messages of a block by app, the field
values by key, so that a query reads only the frames that can hold what it looks for.

Why. A block's messages were one zstd frame: a phrase that only sshd logs, or a regex on
kernel lines, decompressed (and split) every message of every block it touched, and a filter
on one field key (`status:503`) every value of every key. The time is in the decompression
(~1.3 GB/s a core), not in the test. Cut by app, `"Failed password"` reads the sshd frames
only; cut by key, `status:503` reads the `status` values only (the per-key columns that
VictoriaLogs keeps, without a column per key in the footer for keys seen a few times).

Layout in a block's stream directory (`BlockMeta.streams`), for a column `name` whose values
are grouped by `key` (GROUP_KEY: `message` by the `app` stream, `kv` by `kv.key`):

    name.data@G  (and name.len@G when its encoding is `bytes`)
                 the values of group G, in order, for each group with its own frame
    name.data    (and name.len) every other value, in order: the rest

A group gets its own frame when it holds at least MIN_FRAME_VALUES values of the block (a
frame's fixed cost and its loss of shared context are then small), at most MAX_FRAMES of the
largest; a block in which that would leave a single frame keeps the plain layout (one
`name.data`), so small parts and one-app traffic are stored as before. The encodings inside a
frame are the column encodings (`engine.store.columns`).
"""

from __future__ import annotations

import numpy as np

from engine.store import columns as C
from native_kernels.gather import take_values

# The stream holding each value's group, per grouped column.
GROUP_KEY = {"message": "app", "kv": "kv.key"}
MIN_FRAME_VALUES = 2048
MAX_FRAMES = 32


def own_groups(gids: np.ndarray) -> list[int]:
    """The groups of `gids` that get their own frame, ascending; [] for the plain layout."""
    if not len(gids):
        return []
    counts = np.bincount(gids.astype(np.int64))
    big = np.flatnonzero(counts >= MIN_FRAME_VALUES)
    if len(big) > MAX_FRAMES:
        big = big[np.argsort(-counts[big], kind="stable")[:MAX_FRAMES]]
    if len(big) == 0 or (len(big) == 1 and counts[big[0]] == len(gids)):
        return []
    return sorted(big.tolist())


def add_values(w, s: dict, name: str, offsets: np.ndarray, data: np.ndarray, gids: np.ndarray | None = None) -> None:
    """Write the values `data[offsets[i]:offsets[i + 1]]` of column `name` into the block's
    streams `s` through the part's StreamWriter `w`, grouped by `gids` when given."""
    own = own_groups(gids) if gids is not None else []
    if not own:
        _add(w, s, name, "", offsets, data)
        return
    in_own = np.isin(gids, own)
    for g in own:
        off, dat = take_values(offsets, data, np.flatnonzero(gids == g))
        _add(w, s, name, f"@{g}", off, dat)
    off, dat = take_values(offsets, data, np.flatnonzero(~in_own))
    _add(w, s, name, "", off, dat)


def _add(w, s: dict, name: str, suffix: str, offsets: np.ndarray, data: np.ndarray) -> None:
    encoding, stream, lengths = C.encode_values(offsets, data)
    if lengths is not None:
        s[f"{name}.len{suffix}"] = w.add(lengths)
    s[f"{name}.data{suffix}"] = w.add(stream, encoding)


def frames_of(streams: dict, name: str) -> dict[int, str]:
    """{group: suffix} of the groups of column `name` with their own frame in a block ({} when
    the block keeps the plain layout)."""
    prefix = f"{name}.data@"
    return {int(k[len(prefix):]): k[len(name) + 5:] for k in streams if k.startswith(prefix)}
