"""Moving a damaged part aside: out of its partition (so no reader lists it again) into
`<data_dir>/quarantine/`, as `<partition>-<part name>` with a `.reason` file beside it saying
what check it failed. Never deleted by logjet: a person decides what to do with it."""

from __future__ import annotations

import logging
import os

from engine.store import layout

log = logging.getLogger("logjet.store")

REASON_SUFFIX = ".reason"


def quarantine(data_dir: str, path: str, reason: str) -> str | None:
    """Move the part at `path` to the quarantine folder; returns its new path, or None when it
    is already gone (another reader moved it, or retention deleted it)."""
    folder = layout.quarantine_dir(data_dir)
    os.makedirs(folder, exist_ok=True)
    partition = os.path.basename(os.path.dirname(path))
    dest = os.path.join(folder, f"{partition}-{os.path.basename(path)}")
    try:
        os.rename(path, dest)
    except FileNotFoundError:
        return None
    with open(dest + REASON_SUFFIX, "w") as f:
        f.write(reason + "\n")
    log.error("quarantined damaged part %s: %s", path, reason)
    return dest
