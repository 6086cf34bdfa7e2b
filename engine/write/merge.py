"""Background merges (LSM style): a partition's small parts become fewer, bigger, better
compressed ones, and the same thread runs retention.

Policy. Live parts are grouped by partition and level (a flush writes level 0). When a
(partition, level) holds at least `merge_min_parts` parts, they are taken oldest first (min
`_time`, then name) into groups whose rows stay within `max_part_rows` (flushed parts once the
oldest is LEVEL0_MERGE_AFTER_S old, so the merge cadence does not follow the flush interval);
each group of two or more becomes one part of level + 1 with a fresh index (but see below), at
`merge_zstd_level` (a small merge at `small_merge_zstd_level` once settled; a merge whose output
will be merged again at `interim_merge_zstd_level`: see merge_compression). So a day holds fewer
than merge_min_parts parts per level, plus the parts that reached max_part_rows: a bounded
number. Flushed parts carry no index (they are written on the path that bounds ingest); a
partition whose flushed parts have all sat SETTLE_S is merged however few they are, so every
part that stays gets its index; and once no part of a partition is younger than SETTLE_S, its
interim parts are merged once more, so every part that stays is compressed at the final level.

Compressed at 9 once. Live flushed parts are cut into groups of at most `interim_rows` (the
most rows of which merge_min_parts outputs fit in max_part_rows), so that every merge of them is
interim, at any rate and when merges fall behind: a bigger one was compressed at
merge_zstd_level, and merged and compressed at it again by the next level. With
`storage.interim_index` off, such a merge also writes its output as a flush is: no index,
dictionaries unsorted, no value frames, at the flushes' zstd level (`merge_form`); level 1's
merge (some 30-40 s later) rebuilds all of that anyway, so each row of live traffic is indexed
once, and the part that stays is the same, byte for byte. The price is that queries read level
1 unindexed, as they read flushed parts (at most about max_part_rows rows): on by default, the
interim parts keep their index, so a query over the last 30-40 s of a busy source stays fast.
Interim merges of merged parts (low rates, whose outputs live for minutes to hours) always keep
their index.

Exactness. A merge is two steps, each atomic. (1) `merge_parts` writes the output like any
part (temporary name, fsync, rename); its head lists the inputs' names in `replaces`. From the
rename on every reader ignores the inputs (`engine.store.live`): rows are never lost (the
inputs stay until the output is whole) and never counted twice (readers never take both).
(2) `remove_replaced` deletes the inputs, REPLACED_GRACE_S later, so that a query that listed
the parts just before the rename has opened them by then (an open part is mapped; deleting
the file does not pull it from under the reader). A crash between (1) and (2) leaves inputs
that the restarted writer deletes (`recovery.remove_replaced_parts`).

Only whole flushes are merged: the writer hands the merger each flush's parts once the flush
is complete (`Merger.add`), and the parts found at start-up passed recovery, which deletes
unfinished flushes. So a merge never takes rows that a restarted writer would write again.
A merged part carries what recovery needs: `positions`, per ring the max over the inputs
written by this instance (another instance's rings are other rings: their positions mean
nothing here), and `flushes` (flush id → how many of its parts the output holds), so that a
flush whose parts were merged apart still counts as whole.

Why a thread, and a process. A flush must happen every `flush_interval` whatever else is going
on, and a merge of millions of rows takes seconds to minutes, so it cannot be a step of the
writer's loop. The merge thread keeps the registry of parts, plans, names outputs and runs
retention (so merges and deletions never race); each merge itself runs in the writer's merge
process (`engine.write.merge_process`), at a lower priority and with a GIL of its own, so that
the Python parts of a merge never delay a flush. The thread waits for it with the GIL released.

Disk space. A merge needs room for its output while its inputs still exist: it is tried only
when the volume's free space is at least the inputs' size plus `storage.min_free_bytes`, else
skipped (`merges_skipped_total{reason="disk_space"}`) and tried again DISK_RETRY_S later. A merge
that gets ENOSPC or EDQUOT anyway leaves no output (its temporary file is removed), keeps its
inputs, is counted (`storage_disk_full_errors_total{op="merge"}`) and is tried again as well.

Threads: `add` is called by the writer's loop; everything else belongs to the merge thread
(`step` may be called directly by tests instead of starting the thread: the merge then runs in
the calling thread).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import NamedTuple

from engine.config import Settings, Storage
from engine.metrics import MetricsFile
from engine.store import live
from engine.store.free_space import describe, is_disk_full, volume
from engine.store.layout import part_name
from engine.store.part_reader import PartDamaged, PartHead, PartMeta, WriteCancelled, fsync_dir, head_of, read_head
from engine.store.part_writer import IndexBuilder
from engine.store.quarantine import quarantine
from engine.write import retention
from engine.write.flush_writer import FlushWriter
from engine.write.merge_process import MergeProcess
from engine.write.part_merge import InputDamaged as InputDamaged, MergeJob, merge_job, merge_parts as merge_parts

log = logging.getLogger("logjet.merge")

# Nice value of the merge process: lower priority than the ingest path.
MERGE_NICE = 10
# Inputs outlive the output's rename by this long (see the module docstring).
REPLACED_GRACE_S = 10.0
# How often an idle merge thread looks for work: merges are never urgent.
POLL_S = 1.0
# A partition whose flushed parts are all this old has gone quiet: merge them whatever their
# number, so that no part stays without an index (see plan_merges).
SETTLE_S = 30.0
# Flushed parts are merged (at merge_min_parts) only once the oldest of them is this old: the
# merge cadence is then set by time, not by the flush interval, so that flushing more often for
# visibility does not multiply merge work (each merge rebuilds indexes, a fixed cost per value).
LEVEL0_MERGE_AFTER_S = 4.0
# How often retention runs: a few seconds late deleting old data costs nothing.
RETENTION_EVERY_S = 30.0
# After a merge was skipped or failed for want of room, merges wait this long.
DISK_RETRY_S = 5.0


def _settled(inputs: list[tuple[str, PartHead]], now_ns: int) -> bool:
    """Whether every part has sat SETTLE_S since it was written (its partition went quiet)."""
    return all(now_ns - h.created_ns >= SETTLE_S * 1e9 for _, h in inputs)


def _aged(inputs: list[tuple[str, PartHead]], now_ns: int, seconds: float) -> bool:
    """Whether the oldest of the parts was written at least `seconds` ago."""
    return now_ns - min(h.created_ns for _, h in inputs) >= seconds * 1e9


def plan_merges(
    parts: dict[str, PartHead], min_parts: int, max_rows: int, now_ns: int | None = None, interim_rows: int = 0
) -> list[list[str]]:
    """Groups of part paths to merge, each into one part (see the module docstring).

    Flushed parts wait until the oldest of them is LEVEL0_MERGE_AFTER_S old, however often the
    writer flushes. Flushed parts (level 0) carry no index; so once a partition's flushed parts have all been
    there SETTLE_S (the partition went quiet: a past day, a replay, a slow source), they are
    merged even when fewer than `min_parts`, a lone one alone: every part gets its index.

    `interim_rows` (`interim_rows(storage)`; 0: none): live flushed parts are cut into groups of
    at most that many rows (of two parts at least), so that each output is interim, written in
    the flush layout, and the rows of any sustained rate (or of a backlog the merges fall behind
    on) are indexed and compressed at merge_zstd_level once, by the merge of the next level,
    which gathers `min_parts` of them: about `max_rows` rows. That also bounds the rows a query
    reads unindexed to about `max_rows` plus the flushes since, at any rate. Without the cut, a
    level-0 merge of more than `interim_rows` (above ~62,000 rows a second, or when a long
    merge held level 0 back) was final, indexed at merge_zstd_level, and merged again at the
    next level all the same, at merge_zstd_level again."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    by_key: dict[tuple[str, int], list[tuple[str, PartHead]]] = {}
    for path, head in parts.items():
        by_key.setdefault((os.path.dirname(path), head.level), []).append((path, head))
    groups = []
    for (_, level), members in sorted(by_key.items()):
        settled = level == 0 and _settled(members, now_ns)
        if len(members) < min_parts and not settled:
            continue
        if level == 0 and not settled and not _aged(members, now_ns, LEVEL0_MERGE_AFTER_S):
            continue
        if level == 0 and not settled and interim_rows:
            groups += _within_rows(members, interim_rows, smallest=2, close_from=2)
        else:
            groups += _within_rows(members, max_rows, smallest=1 if settled else 2)
    return groups + _final_merges(parts, {p for g in groups for p in g}, max_rows, now_ns)


def interim_rows(storage: Storage) -> int:
    """The most rows of a merge's output that `merge_min_parts` such outputs fit in one part of
    `max_part_rows`: a merge of live traffic up to that size is interim (merge_compression);
    0 when the interim level is off (`interim_merge_zstd_level` not below merge_zstd_level)."""
    if storage.interim_merge_zstd_level >= storage.merge_zstd_level:
        return 0
    return storage.max_part_rows // storage.merge_min_parts


def _within_rows(
    members: list[tuple[str, PartHead]], max_rows: int, smallest: int, close_from: int = 1
) -> list[list[str]]:
    """`members` oldest first (min `_time`, then name), cut into groups whose rows stay within
    `max_rows` (a group of fewer than `close_from` parts takes the next part whatever its rows);
    groups of fewer than `smallest` parts are left out."""
    groups = []
    current: list[str] = []
    rows = 0
    for path, head in sorted(members, key=lambda m: (m[1].min_time, os.path.basename(m[0]))):
        if len(current) >= close_from and rows + head.rows > max_rows:
            if len(current) >= smallest:
                groups.append(current)
            current, rows = [], 0
        current.append(path)
        rows += head.rows
    if len(current) >= smallest:
        groups.append(current)
    return groups


def _final_merges(parts: dict[str, PartHead], taken: set[str], max_rows: int, now_ns: int) -> list[list[str]]:
    """Groups of a quiet partition's interim parts (no part of the partition written for
    SETTLE_S: a past day, a source that stopped), whatever their level and number, a lone one
    alone: traffic will not bring the merge that would have recompressed them."""
    by_folder: dict[str, list[tuple[str, PartHead]]] = {}
    for path, head in parts.items():
        by_folder.setdefault(os.path.dirname(path), []).append((path, head))
    groups = []
    for _, members in sorted(by_folder.items()):
        if not _settled(members, now_ns):
            continue
        interim = [(p, h) for p, h in members if h.interim and p not in taken]
        groups += _within_rows(interim, max_rows, smallest=1)
    return groups


class MergeForm(NamedTuple):
    """How a merge writes its output (`merge_form`)."""

    zstd_level: int
    interim: bool  # will be merged again (PartHead.interim)
    flush_layout: bool  # laid out as a flush is: no index, no value frames (part_merge.merge_parts)


def merge_form(storage: Storage, inputs: list[tuple[str, PartHead]], now_ns: int | None = None) -> MergeForm:
    """How the merge of `inputs` writes its output: `merge_compression`, and, with
    `storage.interim_index` off, for an interim merge of flushed parts, the flush layout at the
    flushes' zstd level (see the module docstring). In-process, 1.6M rows of bench/generate.py as
    at 50,000 rows a second (160 flushes into 8 level-1 parts, then one level-2 part), the level-1
    merges took 1.3-1.5 CPU s in the flush layout against 2.9-4.2 indexed at zstd 3, and the
    level-2 merge read them cheaper, with the same output."""
    zstd_level, interim = merge_compression(storage, inputs, now_ns)
    if interim and not storage.interim_index and all(h.level == 0 for _, h in inputs):
        return MergeForm(min(zstd_level, storage.zstd_level), True, True)
    return MergeForm(zstd_level, interim, False)


def merge_compression(
    storage: Storage, inputs: list[tuple[str, PartHead]], now_ns: int | None = None
) -> tuple[int, bool]:
    """(zstd level, interim) of a merge of `inputs`. Interim: the merge of live traffic (its
    inputs have not all settled) whose output will be merged again, because `merge_min_parts`
    outputs of its size fit in one part of `max_part_rows`; it is compressed at
    `interim_merge_zstd_level` (3), since the merge after it recompresses every row anyway. At
    50,000 rows a second the merge of 4 s of flushes (200,000 rows) took 1.47 s at 9 and 0.94 s
    at 3 (its output 9% bigger for the half minute until the next merge). So the rows of steady
    traffic are compressed at merge_zstd_level once, by the merge that makes the part that stays;
    interim parts of a partition that went quiet are merged once more (`plan_merges`). Else
    `merge_zstd_level`."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    rows = sum(h.rows for _, h in inputs)
    if rows <= interim_rows(storage) and not _settled(inputs, now_ns):
        return storage.interim_merge_zstd_level, True
    return merge_zstd_level(storage, inputs, now_ns), False


def merge_zstd_level(storage: Storage, inputs: list[tuple[str, PartHead]], now_ns: int | None = None) -> int:
    """The zstd level of a merge of `inputs`: `small_merge_zstd_level` (19) when their raw bytes
    total at most `small_merge_bytes` (4 MiB) and every input has sat SETTLE_S (the partition
    went quiet), else `merge_zstd_level` (9).

    Settled small merges are what a quiet source, a past day or a straggling partition leave
    for good, and there a part's fixed costs already weigh most: at 19 they come out 10-15%
    smaller (BENCHMARKS.md, compression). Level 19 takes ~7x the time of 9, so big merges stay at
    9 (a 2M-row merge at 19 would take minutes), and so do the merges of live traffic, whose
    inputs are seconds old and will be merged again: a steady ~1 MiB/s source, whose level-1
    merges (8 flushes of 0.5 s) are just under 4 MiB, would otherwise keep half a core busy
    recompressing. Where even the settled merges' CPU matters more than disk, lower
    `small_merge_bytes` ("0": never). `now_ns`: the clock (a bench modelling the end state of
    the merge thread passes a time past SETTLE_S)."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    small = sum(h.raw_bytes for _, h in inputs) <= storage.small_merge_bytes.bytes
    return storage.small_merge_zstd_level if small and _settled(inputs, now_ns) else storage.merge_zstd_level


def remove_replaced(paths: list[str], fsync: bool = True) -> int:
    """Step 2: delete the inputs of a merge (already gone ones are skipped); returns how many."""
    removed = 0
    folders = set()
    for path in paths:
        try:
            os.unlink(path)
            removed += 1
            folders.add(os.path.dirname(path))
        except FileNotFoundError:
            pass
    if fsync:
        for folder in folders:
            fsync_dir(folder)
    return removed


class Merger:
    """The merge thread of one writer: a registry of whole live parts, merges, retention."""

    def __init__(
        self,
        settings: Settings,
        instance: str,
        part_writer: FlushWriter,
        index_builder: IndexBuilder | None,
        metrics: MetricsFile,
        min_free_bytes: int = 0,
    ):
        st = settings.storage
        self.data_dir = settings.data_dir
        self.instance = instance
        self.min_parts = st.merge_min_parts
        self.max_rows = st.max_part_rows
        self.storage = st
        self.block_rows = st.block_rows
        self.fsync = st.fsync
        self.derive_fields = st.derive_fields
        self.retention_ns = st.retention.ns
        self.max_disk_bytes = st.max_disk_bytes.bytes
        self.min_free_bytes = min_free_bytes  # resolved for the volume by the writer's DiskGuard
        self._disk_retry_at = 0.0  # no merge before this (a merge found no room)
        self._putting_off = False
        self.part_writer = part_writer  # names parts (its sequence is shared with flushes)
        self.index_builder = index_builder
        self.parts: dict[str, PartHead] = {}  # whole live parts this thread may merge
        self._incoming: list[tuple[str, PartHead]] = []  # from `add`, under _lock
        self._lock = threading.Lock()
        self._doomed: list[tuple[float, list[str]]] = []  # (when, inputs to delete) after merges
        self._next_retention = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: MergeProcess | None = None  # from `start`; without it merges run here
        self.m_parts = metrics.counter("written_parts_total", origin="merge")
        self.m_merges = metrics.counter("merges_total")
        self.m_merged_rows = metrics.counter("merged_rows_total")
        self.m_quarantined = metrics.counter("quarantined_parts_total")
        self.m_expired = metrics.counter("deleted_parts_total", reason="retention")
        self.m_skipped = metrics.counter("merges_skipped_total", reason="disk_space")
        self.m_disk_full = metrics.counter("storage_disk_full_errors_total", op="merge")

    def load_existing(self) -> None:
        """Register the live parts on disk (call after recovery, before `start`)."""
        for path in live.live_parts(self.data_dir):
            try:
                self.parts[path] = read_head(path)
            except PartDamaged as exc:
                self.m_quarantined.inc(1 if quarantine(self.data_dir, path, str(exc)) else 0)

    def add(self, written: list[tuple[str, PartMeta]]) -> None:
        """Parts of a complete flush (writer's thread)."""
        heads = [(path, head_of(meta)) for path, meta in written]
        with self._lock:
            self._incoming.extend(heads)

    def start(self) -> None:
        # The merge process first: forked while no thread of ours can hold a lock.
        self._process = MergeProcess(self.index_builder, MERGE_NICE)
        self._process.start()
        self._thread = threading.Thread(target=self._run, name="logjet-merge", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread and the merge process (a merge in progress is abandoned) and wait."""
        self._stop.set()
        if self._process is not None:
            self._process.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.step()
            except Exception:  # a bug must not stop merging for good, nor the writer
                log.exception("merge step failed")
                worked = False
            if not worked:
                self._stop.wait(POLL_S)

    def step(self, now: float | None = None) -> bool:
        """One round: take new parts, delete due inputs, run retention when due, do one merge.
        Returns True when it merged (more work may be waiting)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            incoming, self._incoming = self._incoming, []
        self.parts.update(incoming)
        self._delete_due(now)
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_EVERY_S
            self._retention()
        if now < self._disk_retry_at:
            return False
        groups = plan_merges(self.parts, self.min_parts, self.max_rows, interim_rows=interim_rows(self.storage))
        if not groups:
            return False
        if not self._room_for(groups[0], now):
            return False
        return self._merge(groups[0], now)

    def _room_for(self, group: list[str], now: float) -> bool:
        """Whether the volume has room for the merge of `group`: its output, estimated at the
        inputs' size (a merge recompresses them better), above the minimum free space. A merge
        that has not is counted and put off."""
        need = self.min_free_bytes
        for path in group:
            try:
                need += os.path.getsize(path)
            except OSError:
                pass  # retention took it: the merge will notice
        free = volume(self.data_dir).free
        if free >= need:
            self._putting_off = False
            return True
        self.m_skipped.inc()
        self._disk_retry_at = now + DISK_RETRY_S
        if not self._putting_off:  # once per spell, not every DISK_RETRY_S
            self._putting_off = True
            log.warning(
                "merges put off: %s free, a merge of %d parts needs %s (inputs plus storage.min_free_bytes)",
                describe(free),
                len(group),
                describe(need),
            )
        return False

    def _merge(self, group: list[str], now: float) -> bool:
        inputs = [(p, self.parts[p]) for p in group]
        first = min(h.min_time for _, h in inputs)
        level = max(h.level for _, h in inputs) + 1
        out = os.path.join(
            os.path.dirname(group[0]), part_name(level, first, self.instance, self.part_writer.next_seq())
        )
        t0, cpu0 = time.perf_counter(), time.process_time()
        form = merge_form(self.storage, inputs)
        job = MergeJob(
            inputs,
            out,
            self.instance,
            form.zstd_level,
            form.interim,
            self.block_rows,
            self.fsync,
            self.derive_fields,
            form.flush_layout,
        )
        try:
            if self._process is None:  # `step` called without `start`: merge in this thread
                head = head_of(merge_job(job, self.index_builder, self._stop.is_set))
            else:
                head = self._process.merge(job)
        except InputDamaged as exc:
            self.parts.pop(exc.path, None)
            self.m_quarantined.inc(1 if quarantine(self.data_dir, exc.path, exc.reason) else 0)
            return True
        except (WriteCancelled, FileNotFoundError):
            # Stopping, or retention took an input meanwhile: nothing was written.
            for path in group:
                if not os.path.exists(path):
                    self.parts.pop(path, None)
            return False
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # write_part removed the output; the inputs stay live.
            self.m_disk_full.inc()
            self._disk_retry_at = now + DISK_RETRY_S
            log.warning("merge of %d parts failed for want of room (%s); trying again later", len(group), exc)
            return False
        for path in group:
            del self.parts[path]
        self.parts[out] = head
        self._doomed.append((now + REPLACED_GRACE_S, group))
        self.m_parts.inc()
        self.m_merges.inc()
        self.m_merged_rows.inc(head.rows)
        log.info(
            "merged %d parts (%d rows) into %s at zstd %d%s in %.1fs (%.2f CPU s)",
            len(group),
            head.rows,
            os.path.basename(out),
            form.zstd_level,
            ", flush layout" if form.flush_layout else "",
            time.perf_counter() - t0,
            self._process.last_cpu_s if self._process is not None else time.process_time() - cpu0,
        )
        return True

    def _delete_due(self, now: float) -> None:
        due = [paths for when, paths in self._doomed if when <= now]
        self._doomed = [(when, paths) for when, paths in self._doomed if when > now]
        for paths in due:
            remove_replaced(paths, self.fsync)

    def _retention(self) -> None:
        if not self.retention_ns and not self.max_disk_bytes:
            return
        deleted = retention.apply(self.data_dir, time.time_ns(), self.retention_ns, self.max_disk_bytes)
        if deleted:
            gone = set(deleted)
            for path in gone:
                self.parts.pop(path, None)
            self._doomed = [(w, [p for p in paths if p not in gone]) for w, paths in self._doomed]
            self.m_expired.inc(len(deleted))
