"""Send-to-visible latency, read back from the parts of a local engine.

Senders mix probes into the load (`generate.probe`: app `ljprobe`, `sent_ns=<ns>` in the
message, stamped at the moment the probe is written to the socket). A probe is visible when the
part holding it is renamed into the data dir: the writer renames a part only once it is whole
and fsynced, and rename(2) sets the file's ctime, so the part's ctime is the moment its rows
became queryable. Latency = that ctime - sent_ns. Each row's `_recv` splits it into the wire
and receiver share (sent → received) and the engine's share (received → visible).

Only the `app` column of each block is decompressed, and the message, `_time` and `_recv`
columns only of blocks that hold probes. If a probe shows up in several parts (a merge copied
it), the earliest part counts; `ProbeWatcher` reads parts during the run, before merges replace
them. Reads the parts directly (engine.store), not the query language.
"""

from __future__ import annotations

import os
import re
import threading

import numpy as np

from bench.generate import PROBE_APP
from engine.store import layout
from engine.store.encodings import offsets_from_lengths
from engine.store.part_reader import Part, PartDamaged

_SENT = re.compile(rb"sent_ns=(\d+)")
PERCENTILES = (50, 90, 95, 99, 99.9)


def _part_probes(path: str, app: bytes, found: dict[int, tuple[int, int]]) -> None:
    """Add the probes of one part to `found`, keeping each probe's earliest visible time."""
    visible = os.stat(path).st_ctime_ns
    part = Part(path)
    with part:
        apps = part.meta.dicts.get("app", [])
        if app not in apps:
            return
        app_id = apps.index(app) + 1
        for b in range(len(part.meta.blocks)):
            rows = np.flatnonzero(part.stream(b, "app") == app_id)
            if not len(rows):
                continue
            time = part.stream(b, layout.TIME)
            recv = part.recv(b, time)
            off = offsets_from_lengths(part.stream(b, layout.MESSAGE_LEN))
            data = part.stream(b, layout.MESSAGE_DATA).tobytes()
            for r in rows.tolist():
                m = _SENT.search(data, int(off[r]), int(off[r + 1]))
                if m:
                    sent = int(m.group(1))
                    if sent not in found or found[sent][1] > visible:
                        found[sent] = (int(recv[r]), visible)


def probe_times(
    data_dir: str, found: dict[int, tuple[int, int]] | None = None, seen: set[str] | None = None
) -> dict[int, tuple[int, int]]:
    """{sent_ns: (recv_ns, visible_ns)} of every probe in the data dir (added to `found`);
    parts in `seen` are skipped, and the parts read are added to it."""
    found = {} if found is None else found
    app = PROBE_APP.encode()
    for path in layout.all_part_paths(data_dir):
        if seen is not None:
            if path in seen:
                continue
            seen.add(path)
        try:
            _part_probes(path, app, found)
        except (OSError, PartDamaged, ValueError):
            continue  # merged away while we read it: its rows are in the merged part
    return found


class ProbeWatcher:
    """Reads each new part while the run goes on. Merges replace flushed parts within seconds,
    and a merged part's ctime is its merge's, not the moment its rows became visible: a probe
    must be seen in the first part that held it, so parts are read as they appear."""

    def __init__(self, data_dir: str, interval_s: float = 0.1):
        self.data_dir = data_dir
        self.interval_s = interval_s
        self.found: dict[int, tuple[int, int]] = {}
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            probe_times(self.data_dir, self.found, self.seen)

    def __enter__(self) -> "ProbeWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def times(self) -> dict[int, tuple[int, int]]:
        """Everything seen, plus the parts on disk now (probes of the last flush)."""
        return probe_times(self.data_dir, self.found, self.seen)


def summarize(times: dict[int, tuple[int, int]], probes_sent: int) -> dict:
    """Percentiles in milliseconds of send → visible, send → received and received → visible."""
    out: dict = {"probes_sent": probes_sent, "probes_found": len(times)}
    if not times:
        return out
    sent = np.fromiter(times.keys(), np.int64, len(times))
    recv = np.fromiter((v[0] for v in times.values()), np.int64, len(times))
    vis = np.fromiter((v[1] for v in times.values()), np.int64, len(times))
    for name, values in (
        ("send_to_visible", vis - sent),
        ("send_to_received", recv - sent),
        ("received_to_visible", vis - recv),
    ):
        ms = values / 1e6
        out[name] = {f"p{p:g}": round(float(np.percentile(ms, p)), 2) for p in PERCENTILES}
        out[name]["mean"] = round(float(ms.mean()), 2)
        out[name]["max"] = round(float(ms.max()), 2)
    # For the plot: the send → visible distribution, thinned to at most 1000 sorted points.
    lat = np.sort((vis - sent) / 1e6)
    idx = np.linspace(0, len(lat) - 1, min(len(lat), 1000)).astype(np.int64)
    out["send_to_visible_sorted_ms"] = [round(float(x), 2) for x in lat[idx]]
    return out
