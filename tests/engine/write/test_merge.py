"""Merges: the policy, exactness (no row lost or duplicated), crash between rename and delete,
recovery positions carried across merges, and the merge thread against a live writer."""

import collections
import os
import time

import msgspec
import pytest

from bench.rows import synthetic_rows
from engine.config import Settings, Storage
from engine.query.scan import newest_rows
from engine.store.index_build import make_index_builder
from engine.store.index_read import PartIndex
from engine.store.live import live_parts, replaced_parts
from engine.store.part_format import MAGIC, PartDamaged
from engine.store.part_reader import Part, PartHead, PartOptions, read_head, write_part
from engine.store.rows import concat
from engine.write import merge
from engine.write.merge import Merger, merge_parts, plan_merges, remove_replaced
from engine.write.flush_writer import FlushWriter
from engine.write.recovery import recover_positions, remove_replaced_parts
from engine.units import ByteSize, Duration

DAY_S = 86400
START_S = 1_700_000_000 - 1_700_000_000 % DAY_S + 3600  # 01:00 UTC of some day


class _Value:
    def __init__(self):
        self.value = 0

    def inc(self, n=1):
        self.value += n


class Metrics:
    def __init__(self):
        self.values = {}

    def counter(self, name, **labels):
        return self.values.setdefault((name, tuple(sorted(labels.items()))), _Value())


def _settings(tmp_path, **storage):
    st = dict(fsync=False, block_rows=1024, merge_min_parts=3, retention=Duration(0))
    st.update(storage)
    return Settings(data_dir=str(tmp_path), storage=Storage(**st))


def _flushes(writer: FlushWriter, count: int, rows_each: int, start_s=START_S, ring="r"):
    """`count` flushes of distinct synthetic rows, ring positions 1, 2, ..."""
    for k in range(count):
        rows = synthetic_rows(rows_each, seed=100 + k, start_s=start_s + k * 10)
        yield writer.write_flush(rows, {ring: k + 1})


def _row_multiset(data_dir):
    rows = newest_rows(data_dir, None, None, None)
    return collections.Counter((int(rows.time[i]), rows.message(i)) for i in range(len(rows)))


def _head(level=0, rows=10, t=0, created_ns=0, flush_id="f", interim=False):
    """A part head for the planner: only level, rows, time, age and the interim mark matter."""
    return PartHead(
        version=3,
        level=level,
        instance="i",
        flush_id=flush_id,
        flush_parts=1,
        rows=rows,
        min_time=t,
        max_time=t,
        created_ns=created_ns,
        raw_bytes=0,
        data_bytes=0,
        index_bytes=0,
        interim=interim,
    )


def test_plan_groups_by_partition_and_level_within_max_rows():
    def head(level, rows, t):
        return _head(level, rows, t)

    parts = {f"/d/20240101/a{i}": head(0, 10, 100 - i) for i in range(4)}
    parts.update({f"/d/20240102/b{i}": head(0, 10, i) for i in range(2)})  # too few in that partition
    parts.update({f"/d/20240101/c{i}": head(1, 10, i) for i in range(2)})  # too few at that level
    now = 5_000_000_000  # 5 s after the parts were made: old enough to merge, none has settled
    assert plan_merges(parts, 3, 1000, now) == [[f"/d/20240101/a{i}" for i in (3, 2, 1, 0)]]  # oldest first
    assert plan_merges(parts, 3, 20, now) == [
        ["/d/20240101/a3", "/d/20240101/a2"],
        ["/d/20240101/a1", "/d/20240101/a0"],
    ]
    assert plan_merges(parts, 3, 15, now) == []  # no two fit together
    assert plan_merges(parts, 5, 1000, now) == []


def test_flushed_parts_wait_until_the_oldest_is_old_enough_however_many():
    def head(i, created_ns, level=0):
        return _head(level, 10, i, created_ns, flush_id=f"f{i}")

    wait_ns = int(merge.LEVEL0_MERGE_AFTER_S * 1e9)
    # Twenty flushes 200 ms apart, the last one just written.
    parts = {f"/d/20240101/a{i:02d}": head(i, i * 200_000_000) for i in range(20)}
    newest = 19 * 200_000_000
    assert plan_merges(parts, 8, 1000, newest) == []  # the oldest is 3.8 s old
    assert plan_merges(parts, 8, 1000, wait_ns) == [sorted(parts)]
    # Merged parts (level 1) do not wait.
    merged = {f"/d/20240101/m{i}": head(i, newest, level=1) for i in range(8)}
    assert plan_merges(merged, 8, 1000, newest) == [sorted(merged)]


def test_live_flushed_parts_are_cut_into_interim_sized_groups():
    def head(i, rows, created_s=0, level=0):
        return _head(level, rows, i, created_s * 10**9, flush_id=f"f{i}")

    # 30 flushes of 10 rows (a backlog behind a long merge, or a rate where 4 s of traffic
    # would make a final part): groups of at most 80 rows, so every output is interim.
    parts = {f"/d/20240101/a{i:02d}": head(i, 10) for i in range(30)}
    now = 5 * 10**9
    names = sorted(parts)
    assert plan_merges(parts, 8, 1000, now, interim_rows=80) == [names[0:8], names[8:16], names[16:24], names[24:]]
    assert plan_merges(parts, 8, 1000, now) == [names]
    # Once quiet, not cut: nothing will come to merge with them.
    assert plan_merges(parts, 8, 1000, 60 * 10**9, interim_rows=80) == [names]
    # A flush bigger than the cut takes the next part with it rather than stay unmerged.
    big = {"/d/20240101/a00": head(0, 100), **{f"/d/20240101/a{i:02d}": head(i, 10) for i in range(1, 8)}}
    assert plan_merges(big, 8, 1000, now, interim_rows=80) == [["/d/20240101/a00", "/d/20240101/a01"], sorted(big)[2:8]]
    # Merged parts are not cut; the cut follows the storage settings.
    merged = {f"/d/20240101/m{i}": head(i, 10, level=1) for i in range(8)}
    assert plan_merges(merged, 8, 1000, now, interim_rows=20) == [sorted(merged)]
    assert merge.interim_rows(Storage(max_part_rows=2_000_000, merge_min_parts=8)) == 250_000
    assert merge.interim_rows(Storage(interim_merge_zstd_level=9)) == 0


def test_settled_flushed_parts_merge_however_few():
    def head(level, created_s):
        return _head(level, 10, created_s, created_s * 10**9)

    parts = {
        "/d/20240101/a": head(0, 0),
        "/d/20240102/b0": head(0, 0),
        "/d/20240102/b1": head(0, 50),
        "/d/20240103/c": head(1, 0),
    }
    # At 60 s: day 1's lone flushed part is rewritten (to get its index); day 2 is not quiet yet
    # (b1 is 10 s old); a lone merged part has its index already.
    assert plan_merges(parts, 8, 1000, 60 * 10**9) == [["/d/20240101/a"]]
    assert plan_merges(parts, 8, 1000, 90 * 10**9) == [["/d/20240101/a"], ["/d/20240102/b0", "/d/20240102/b1"]]


def test_small_merges_compress_harder(tmp_path):
    # Settled inputs of at most small_merge_bytes raw bytes get small_merge_zstd_level, bigger
    # or fresh ones merge_zstd_level; "0" turns the small level off.
    writer = FlushWriter(str(tmp_path), "me", 1024, 1, False)
    written = [pm for flush in _flushes(writer, 2, 500) for pm in flush]
    inputs = [(path, read_head(path)) for path, _ in written]
    raw = sum(h.raw_bytes for _, h in inputs)
    # Once the inputs have settled (the partition went quiet); live inputs stay at 9.
    later = max(h.created_ns for _, h in inputs) + int(merge.SETTLE_S * 1e9)
    assert merge.merge_zstd_level(Storage(small_merge_bytes=ByteSize(raw)), inputs, later) == 19
    assert merge.merge_zstd_level(Storage(small_merge_bytes=ByteSize(raw)), inputs, later - 1) == 9
    assert merge.merge_zstd_level(Storage(small_merge_bytes=ByteSize(raw - 1)), inputs, later) == 9
    assert merge.merge_zstd_level(Storage(small_merge_bytes=ByteSize(0), merge_zstd_level=5), inputs, later) == 5
    assert merge.merge_zstd_level(Storage(small_merge_zstd_level=12), inputs, later) == 12


def _two_flushes(tmp_path):
    """The parts of two flushes of 500 rows (zstd 1), the time they were written, and a time
    when they have settled."""
    writer = FlushWriter(str(tmp_path), "me", 1024, 1, False)
    inputs = [(path, read_head(path)) for flush in _flushes(writer, 2, 500) for path, _ in flush]
    fresh = max(h.created_ns for _, h in inputs)
    return writer, inputs, fresh, fresh + int(merge.SETTLE_S * 1e9)


def test_merges_of_live_traffic_that_will_be_merged_again_are_interim(tmp_path):
    writer, inputs, fresh, settled = _two_flushes(tmp_path)
    st = Storage(merge_min_parts=8, max_part_rows=8000)  # 8 outputs of 1,000 rows fit in one part
    assert merge.merge_compression(st, inputs, fresh) == (3, True)
    # Outputs too big to be merged together again are final; so are settled inputs' merges.
    assert merge.merge_compression(Storage(merge_min_parts=8, max_part_rows=7999), inputs, fresh) == (9, False)
    assert merge.merge_compression(st, inputs, settled)[1] is False
    # An interim level not below merge_zstd_level turns it off.
    assert merge.merge_compression(Storage(max_part_rows=8000, interim_merge_zstd_level=9), inputs, fresh) == (9, False)
    # The mark is in the output's head; rows and index are those of any merge.
    out = os.path.join(os.path.dirname(inputs[0][0]), "p1_%d_me_%08d.ljp" % (START_S, writer.next_seq()))
    before = _row_multiset(str(tmp_path))
    meta = merge_parts(inputs, out, instance="me", zstd_level=3, block_rows=1024, fsync=False, interim=True)
    assert meta.interim and read_head(out).interim and not any(h.interim for _, h in inputs)
    assert _row_multiset(str(tmp_path)) == before


def test_a_quiet_partitions_interim_parts_are_merged_once_more():
    def head(name, level, created_s, interim):
        return name, _head(level, 10, created_s, created_s * 10**9, flush_id="", interim=interim)

    parts = dict(
        [
            head("/d/20240101/a1", 1, 0, True),
            head("/d/20240101/a2", 2, 5, True),
            head("/d/20240101/a3", 2, 6, False),  # final already: stays
            head("/d/20240102/b1", 1, 0, True),
            head("/d/20240102/b0", 0, 50, False),  # a flush 10 s before "now": not quiet
            head("/d/20240103/c1", 1, 0, True),  # alone, and quiet: merged alone
        ]
    )
    now = 60 * 10**9
    assert plan_merges(parts, 8, 1000, now) == [["/d/20240101/a1", "/d/20240101/a2"], ["/d/20240103/c1"]]
    assert plan_merges(parts, 8, 15, now) == [["/d/20240101/a1"], ["/d/20240101/a2"], ["/d/20240103/c1"]]
    # The final merge of a quiet partition's parts is not interim again.
    inputs = [(p, parts[p]) for p in ("/d/20240101/a1", "/d/20240101/a2")]
    assert merge.merge_compression(Storage(max_part_rows=1000), inputs, now) == (19, False)


def test_interim_merges_of_flushed_parts_take_the_flush_layout_without_the_interim_index(tmp_path):
    _, flushed, fresh, settled = _two_flushes(tmp_path)
    # By default interim parts keep their index (queries over the last seconds use it).
    assert merge.merge_form(Storage(merge_min_parts=8, max_part_rows=8000), flushed, fresh) == (3, True, False)
    st = Storage(merge_min_parts=8, max_part_rows=8000, interim_index=False)
    # Live traffic whose merge will be merged again: as a flush is, at the flushes' level.
    assert merge.merge_form(st, flushed, fresh) == (1, True, True)
    lower = Storage(merge_min_parts=8, max_part_rows=8000, zstd_level=5, interim_index=False)
    assert merge.merge_form(lower, flushed, fresh) == (3, True, True)
    # A higher rate (outputs too big to be merged together again), a quiet partition: final.
    high = Storage(merge_min_parts=8, max_part_rows=7999, interim_index=False)
    assert merge.merge_form(high, flushed, fresh) == (9, False, False)
    assert merge.merge_form(st, flushed, settled) == (19, False, False)
    # Merged parts (low rates: their outputs live for minutes) keep their index.
    merged = [(p, msgspec.structs.replace(h, level=1, interim=True)) for p, h in flushed]
    assert merge.merge_form(st, merged, fresh) == (3, True, False)


def _data_and_index(path):
    """A part's streams and index blobs, byte for byte, with what describes them; not its head,
    whose `replaces` and `created_ns` name the path that made it."""
    with Part(path) as part:
        m = part.meta
        described = (m.rows, m.raw_bytes, m.blocks, m.dicts, m.index, m.data_bytes, m.index_bytes)
    with open(path, "rb") as f:
        f.seek(len(MAGIC))
        return described, f.read(m.data_bytes + m.index_bytes)


def test_a_part_that_stays_is_the_same_whatever_merges_made_it(tmp_path):
    """Flushes merged straight into one part, through indexed interim parts (zstd 3) or through
    flush-layout ones (zstd 1, no index): the same rows, streams and index, byte for byte."""
    builder = make_index_builder(Storage())
    outs = []
    for path_kind in ("direct", "indexed", "flush_layout"):
        folder = tmp_path / path_kind
        writer = FlushWriter(str(folder), "me", 4096, 1, False)
        for _ in _flushes(writer, 6, 1500):
            pass
        flushed = sorted(live_parts(str(folder)), key=lambda p: read_head(p).min_time)
        day = os.path.dirname(flushed[0])

        def merge_into(paths, level, **kw):
            inputs = [(p, read_head(p)) for p in paths]
            out = os.path.join(day, "p%d_%d_me_%08d.ljp" % (level, START_S, writer.next_seq()))
            merge_parts(inputs, out, instance="me", block_rows=4096, fsync=False, index_builder=builder, **kw)
            return out

        if path_kind == "direct":
            final = merge_into(flushed, 1, zstd_level=9)
        else:
            layout = path_kind == "flush_layout"
            interim = [
                merge_into(flushed[k : k + 3], 1, zstd_level=1 if layout else 3, interim=True, flush_layout=layout)
                for k in (0, 3)
            ]
            with Part(interim[0]) as part:
                assert bool(part.meta.index) is not layout
                assert part.meta.interim
            final = merge_into(interim, 2, zstd_level=9)
        outs.append(_data_and_index(final))
    assert outs[0][0][0] == 9000 and outs[0][0][4]  # every row, with an index
    assert outs[1] == outs[0] and outs[2] == outs[0]


def test_which_merges_happen_at_which_rates(tmp_path, monkeypatch):
    """At a low rate and at a high one alike, flushed parts are merged into interim parts (at the
    high rate a few flushes each; indexed, or in the flush layout without the interim index),
    then into an indexed part at merge_zstd_level: compressed at merge_zstd_level once."""
    monkeypatch.setattr(merge, "LEVEL0_MERGE_AFTER_S", 0.0)  # flushed parts of this instant merge now
    monkeypatch.setattr(merge, "REPLACED_GRACE_S", 0.0)
    indexed = [(1, True, True), (2, False, True)]
    flush_layout = [(1, True, False), (2, False, True)]
    lean = dict(interim_index=False)
    for name, rows_each, storage, expect in (
        ("low", 400, dict(max_part_rows=8000), indexed),  # 3 outputs of 1,200 rows fit in 8,000
        ("high", 3000, dict(max_part_rows=20000), indexed),  # 3 flushes do not: 2 per interim part
        ("low, lean", 400, dict(max_part_rows=8000, **lean), flush_layout),
        ("high, lean", 3000, dict(max_part_rows=20000, **lean), flush_layout),
        # The interim level off: each row indexed and compressed at merge_zstd_level twice.
        ("off", 3000, dict(max_part_rows=20000, interim_merge_zstd_level=9), [(1, False, True), (2, False, True)]),
    ):
        folder = tmp_path / name
        settings = _settings(folder, merge_min_parts=3, **storage)
        builder = make_index_builder(settings.storage)
        writer = FlushWriter(str(folder), "1a2b", 1024, 1, False)
        merger = Merger(settings, "1a2b", writer, builder, Metrics())
        made = []
        for written in _flushes(writer, 9, rows_each):
            merger.add(written)
            while merger.step():
                newest = max(merger.parts, key=lambda p: merger.parts[p].created_ns)
                with Part(newest) as part:
                    m = part.meta
                    framed = any("@" in name for b in m.blocks for name in b.streams)
                    made.append((m.level, m.interim, bool(m.index)))
                    assert not (m.interim and not m.index and framed)
                    assert not m.interim or m.rows * 3 <= settings.storage.max_part_rows
        assert sorted(set(made)) == expect, (name, made)
        assert sum(read_head(p).rows for p in live_parts(str(folder))) == rows_each * 9


def test_merge_is_exact_and_atomic_in_two_steps(tmp_path):
    settings = _settings(tmp_path)
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False)
    for _ in _flushes(writer, 4, 1500):
        pass
    before = _row_multiset(str(tmp_path))
    assert sum(before.values()) == 6000
    inputs = [(p, read_head(p)) for p in live_parts(str(tmp_path))]
    assert len(inputs) == 4
    out = os.path.join(os.path.dirname(inputs[0][0]), "p1_%d_1a2b_%08d.ljp" % (START_S, writer.next_seq()))
    meta = merge_parts(
        inputs,
        out,
        instance="1a2b",
        zstd_level=9,
        block_rows=1024,
        index_builder=make_index_builder(settings.storage),
        fsync=False,
    )
    # Step 1 done, step 2 not yet (a crash here): both on disk, readers see each row once.
    assert meta.level == 1 and meta.rows == 6000
    assert sorted(meta.replaces) == sorted(os.path.basename(p) for p, _ in inputs)
    assert live_parts(str(tmp_path)) == [out]
    assert sorted(replaced_parts(str(tmp_path))) == sorted(p for p, _ in inputs)
    assert _row_multiset(str(tmp_path)) == before
    assert meta.raw_bytes == sum(h.raw_bytes for _, h in inputs)
    with Part(out) as part:
        assert PartIndex(part).size_bytes() > 0
        assert list(part.read_all().time) == sorted(part.read_all().time)
    # Step 2 (or a restarted writer): the inputs go, nothing else changes.
    assert remove_replaced([p for p, _ in inputs], fsync=False) == 4
    assert replaced_parts(str(tmp_path)) == [] and _row_multiset(str(tmp_path)) == before


def test_restart_after_a_crash_between_rename_and_delete(tmp_path):
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False)
    for _ in _flushes(writer, 3, 500):
        pass
    before = _row_multiset(str(tmp_path))
    inputs = [(p, read_head(p)) for p in live_parts(str(tmp_path))]
    out = os.path.join(os.path.dirname(inputs[0][0]), "p1_%d_1a2b_%08d.ljp" % (START_S, writer.next_seq()))
    merge_parts(inputs, out, instance="1a2b", zstd_level=3, block_rows=1024, fsync=False)
    # The writer dies here. Its successor cleans up before reading anything.
    assert remove_replaced_parts(str(tmp_path)) == 3
    positions, max_seq = recover_positions(str(tmp_path), "1a2b")
    assert positions == {"r": 3} and max_seq == writer.seq
    assert os.listdir(os.path.dirname(out)) == [os.path.basename(out)]
    assert _row_multiset(str(tmp_path)) == before


def test_positions_come_from_this_instance_only(tmp_path):
    old = FlushWriter(str(tmp_path), "0dd0", 1024, 3, False)
    for _ in _flushes(old, 2, 200, ring="r"):
        pass  # an earlier run's rings: r at 1, 2
    new = FlushWriter(str(tmp_path), "0e0e", 1024, 3, False)
    new.seq = old.seq
    new.write_flush(synthetic_rows(200, seed=9, start_s=START_S + 50), {"r": 0, "s": 5})
    inputs = [(p, read_head(p)) for p in live_parts(str(tmp_path))]
    out = os.path.join(os.path.dirname(inputs[0][0]), "p1_%d_0e0e_%08d.ljp" % (START_S, new.next_seq()))
    meta = merge_parts(inputs, out, instance="0e0e", zstd_level=3, block_rows=1024, fsync=False)
    assert meta.positions == {"r": 0, "s": 5}
    assert sum(meta.flushes.values()) == 3
    remove_replaced([p for p, _ in inputs], fsync=False)
    assert recover_positions(str(tmp_path), "0e0e")[0] == {"r": 0, "s": 5}


def test_a_flush_merged_apart_still_counts_as_whole(tmp_path):
    # One flush spanning two days; the first day's part is merged with others, then deleted.
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False)
    written = writer.write_flush(synthetic_rows(300, seed=2, start_s=START_S), {"r": 1})
    two_days = concat(
        [synthetic_rows(100, seed=3, start_s=START_S + 100), synthetic_rows(100, seed=4, start_s=START_S + DAY_S + 100)]
    )
    written += writer.write_flush(two_days, {"r": 2})
    assert len({os.path.dirname(p) for p, _ in written}) == 2
    first_day = os.path.dirname(written[0][0])
    inputs = [(p, read_head(p)) for p in live_parts(str(tmp_path)) if os.path.dirname(p) == first_day]
    assert len(inputs) == 2
    out = os.path.join(first_day, "p1_%d_1a2b_%08d.ljp" % (START_S, writer.next_seq()))
    merge_parts(inputs, out, instance="1a2b", zstd_level=3, block_rows=1024, fsync=False)
    remove_replaced([p for p, _ in inputs], fsync=False)
    before = _row_multiset(str(tmp_path))
    positions, _ = recover_positions(str(tmp_path), "1a2b")
    assert positions == {"r": 2}
    assert _row_multiset(str(tmp_path)) == before  # the second day's part was kept


def test_an_unfinished_flush_is_removed_but_merged_parts_stay(tmp_path):
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False)
    for _ in _flushes(writer, 2, 100):
        pass
    inputs = [(p, read_head(p)) for p in live_parts(str(tmp_path))]
    out = os.path.join(os.path.dirname(inputs[0][0]), "p1_%d_1a2b_%08d.ljp" % (START_S, writer.next_seq()))
    merge_parts(inputs, out, instance="1a2b", zstd_level=3, block_rows=1024, fsync=False)
    remove_replaced([p for p, _ in inputs], fsync=False)
    # A flush of two parts of which only one reached the disk.
    rows = synthetic_rows(100, seed=7, start_s=START_S + 500)
    path = writer.next_name(0, int(rows.time[0]))
    write_part(
        path,
        rows,
        PartOptions(level=0, instance="1a2b", flush_id="inst-x", flush_parts=2, positions={"r": 9}, fsync=False),
    )
    positions, _ = recover_positions(str(tmp_path), "1a2b")
    assert positions == {"r": 2}
    assert not os.path.exists(path) and os.path.exists(out)


@pytest.mark.slow  # the merges run in a merge process
def test_merge_thread_merges_while_the_writer_flushes(tmp_path, monkeypatch):
    monkeypatch.setattr(merge, "REPLACED_GRACE_S", 0.0)
    monkeypatch.setattr(merge, "POLL_S", 0.02)
    monkeypatch.setattr(merge, "LEVEL0_MERGE_AFTER_S", 0.0)
    settings = _settings(tmp_path, merge_min_parts=3, max_part_rows=5000)
    builder = make_index_builder(settings.storage)
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False, index_builder=builder)
    merger = Merger(settings, "1a2b", writer, builder, Metrics())
    merger.load_existing()
    merger.start()
    try:
        for written in _flushes(writer, 20, 400):
            merger.add(written)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                live = {p: read_head(p) for p in live_parts(str(tmp_path))}
            except PartDamaged:  # a part the running merge replaced between listing and reading
                time.sleep(0.1)
                continue
            if not replaced_parts(str(tmp_path)) and not plan_merges(live, 3, 5000):
                break
            time.sleep(0.1)
    finally:
        merger.stop()
    heads = [read_head(p) for p in live_parts(str(tmp_path))]
    assert sum(h.rows for h in heads) == 8000
    assert max(h.level for h in heads) >= 1 and all(h.rows <= 5000 or h.level == 0 for h in heads)
    assert len(heads) < 20
    assert _row_multiset(str(tmp_path)) == sum(
        (
            collections.Counter((int(r.time[i]), r.message(i)) for i in range(len(r)))
            for r in (synthetic_rows(400, seed=100 + k, start_s=START_S + k * 10) for k in range(20))
        ),
        collections.Counter(),
    )
    assert recover_positions(str(tmp_path), "1a2b")[0] == {"r": 20}


def test_stop_abandons_a_merge_cleanly(tmp_path):
    settings = _settings(tmp_path)
    writer = FlushWriter(str(tmp_path), "1a2b", 1024, 3, False)
    for _ in _flushes(writer, 3, 3000):
        pass
    merger = Merger(settings, "1a2b", writer, None, Metrics())
    merger.load_existing()
    merger._stop.set()  # as if stop() came while the merge runs
    assert merger.step() is False
    folder = os.path.dirname(live_parts(str(tmp_path))[0])
    assert len(os.listdir(folder)) == 3  # no temporary left, inputs untouched
