"""One raw frame batch → one column batch: the parser's whole job, on arrays.

Steps, each one kernel or numpy call over the batch: syslog header parsing (or JSON decoding
for rows detected as JSON; a frame that is a whole OTLP or Loki push request becomes its
records' rows by `engine.parse.otlp_rows` or `engine.parse.loki_rows`, or by its JSON frames
where that does not apply), dictionary
encoding of host/app/procid/msgid/source, gathering of message and SD bytes, and the fields
(key=value pairs in messages, SD params, JSON keys) as one CSR group per row. Strings that do
not exist in the raw bytes (JSON values) are appended to a copy of the batch buffer so that
every string column is a span of one buffer. Rows whose time is out of range are adjusted or
dropped (`engine.parse.time_bounds`), dropped ones only after alert matching has counted them.

One row's failure costs that row only: a JSON line the decoder rejects is kept as a plain row
flagged `parse_fallback`; and should parsing a batch raise (a bug, not bad input: bad input gives
best-effort rows), the rows that make it fail are found by bisection and kept as flagged plain
rows while every other row is parsed in full. `ColumnBatch.fallback` counts such rows.
"""

from __future__ import annotations

import logging
from itertools import compress, repeat
from operator import is_not
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from engine.alert.rules import ALERT_KEY
from engine.config import Ingest, Parse
from engine.ipc.column_batch import ARRAYS, OFFSET_ARRAYS, VALUE_ARRAYS, ColumnBatch, DictionaryUpdates
from engine.ipc.raw_batch import LOKI_REQUEST, OTLP_REQUEST, WHOLE_REQUEST, RawBatch
from engine.parse.dictionaries import ParserDictionaries
from engine.parse import time_bounds
from engine.json_field_names import FieldNamesError
from engine.parse.json_keys import KeyRoles, decode_overrides
from engine.parse.json_rows import decode_json_rows
from engine.parse.loki_rows import loki_rows
from engine.parse.otlp_rows import OtlpRows, otlp_rows
from engine.push import otlp
from engine.push.loki import LokiDecoder
from engine.push.bodies import PushRefused
from engine.parse.time_bounds import AdjustFields, TimeBounds, adjust_fields
from engine.store.rows import (
    DICT_COLUMNS,
    FIELD_KEYS,
    KV_FIELD,
    KV_SD,
    ROW_BEST_EFFORT,
    ROW_BOM,
    ROW_FRAMING_ERROR,
    ROW_HOST_FROM_SOURCE,
    ROW_PARSE_FALLBACK,
    ROW_TRUNCATED,
)
from native_kernels.framing import FRAMING_ERROR, TRUNCATED
from native_kernels.gather import join_spans, take_spans
from native_kernels.kv import extract_kv
from native_kernels.sd import extract_sd
from native_kernels.syslog import (
    APP_END,
    APP_START,
    FLAG_BEST_EFFORT,
    FLAG_BOM,
    FORMAT_JSON,
    FORMAT_PLAIN,
    HOST_END,
    HOST_START,
    MSG_END,
    MSG_START,
    MSGID_END,
    MSGID_START,
    NO_VALUE,
    PROCID_END,
    PROCID_START,
    SD_END,
    SD_START,
    SPAN_MATRIX_ROWS,
    parse_frames,
)
from native_kernels.timestamps import TimeZone

if TYPE_CHECKING:
    from engine.alert.ingest_alerts import IngestAlerts


log = logging.getLogger("logjet.parse")

# Key roles of distinct request field names a parser keeps built (a handful in practice: each
# client sends the same parameters every time); past it the cache starts over.
MAX_CACHED_ROLES = 64

DEFAULT_MAX_LEN = Ingest().max_message_bytes

# Bisection of a failing batch gives up (the whole batch becomes plain rows) past this many
# failing rows: a bug that hits every row should not cost thousands of re-parses.
MAX_ISOLATED_ROWS = 64


def _u32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.uint32)


def _concat_values(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate several (offsets, data) value lists into one."""
    lengths = np.concatenate([np.diff(off) for off, _ in parts])
    off = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    return off, np.concatenate([data[o[0] : o[-1]] for o, data in parts])


def _pack(values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A list of byte strings as (offsets, data)."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    off = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    return off, np.frombuffer(b"".join(values), np.uint8)


class _Pairs(NamedTuple):
    """A batch's field pairs as CSR arrays (see `ColumnBatch`), and the id of the alert key."""

    kv_ptr: npt.NDArray[np.uint32]
    kv_key: npt.NDArray[np.uint32]
    kv_kind: npt.NDArray[np.uint8]
    kv_off: npt.NDArray[np.uint32]
    kv_data: npt.NDArray[np.uint8]
    alert_key: int  # fieldkey id of ALERT_KEY; 0 unless asked for


# Byte strings as (offsets, data): string i is data[offsets[i]:offsets[i + 1]].
_Values = tuple[np.ndarray, np.ndarray]
# The pairs of the JSON rows: (row of each pair, keys, values).
_JsonFields = tuple[np.ndarray, _Values, _Values]


class _Head(NamedTuple):
    """A batch's rows with their headers read, before dictionaries and fields: `data` holds
    every string the `spans` point at; `row_source` is each row's index into the batch's
    senders; `raw_bytes` what the rows were read from."""

    data: np.ndarray
    fmt: np.ndarray
    time_ns: np.ndarray
    severity: np.ndarray
    facility: np.ndarray
    spans: np.ndarray
    flags: np.ndarray
    json_fields: _JsonFields | None
    fallback: int
    row_source: np.ndarray
    raw_bytes: int


class BatchParser:
    """Parses raw batches; keeps the dictionaries between batches (one instance per parser).
    `max_len` is `ingest.max_message_bytes`: where the records of a push request frame are cut,
    as the API cuts every frame."""

    def __init__(
        self,
        settings: Parse,
        alerts: IngestAlerts | None = None,
        bounds: TimeBounds = TimeBounds(),
        max_len: int = DEFAULT_MAX_LEN,
    ):
        self.settings = settings
        self.max_len = max_len
        self.tz = TimeZone.from_name(settings.timezone)
        self.dicts = ParserDictionaries()
        self.alerts = alerts
        self.bounds = bounds  # the default: no row is out of range (tools, tests)
        self._configured = settings.json_field_names()
        self._roles: dict[bytes, KeyRoles] = {b"": KeyRoles.build(self._configured)}

    def roles(self, field_names: bytes) -> KeyRoles:
        """Which JSON keys fill which column for a batch with this field names blob: the
        request's names above the configured ones. A damaged blob (the API checked it, so a bug)
        is logged and the configured names apply: the rows are still stored."""
        roles = self._roles.get(field_names)
        if roles is None:
            try:
                requested = decode_overrides(field_names)
            except FieldNamesError as exc:
                log.error("%s; the configured field names apply", exc)
                return self._roles[b""]
            if len(self._roles) >= MAX_CACHED_ROLES:
                self._roles = {b"": self._roles[b""]}
            roles = self._roles[field_names] = KeyRoles.build(self._configured, requested)
        return roles

    def parse(self, raw: RawBatch) -> ColumnBatch:
        """The column batch of `raw`; never raises for the content of the frames (see the
        module docstring)."""
        try:
            return self._parse(raw)
        except Exception:
            log.exception("parsing a batch of %d frames failed; isolating the rows that fail", len(raw.starts))
            return self._isolate(raw)

    def _parse(self, raw: RawBatch) -> ColumnBatch:
        if bool((raw.frame_flags & WHOLE_REQUEST).any()):
            head = self._request_head(raw)
            if head is None:  # not the shape the shortcut takes: the general path's frames
                expanded, failed = self._expand(raw)
                batch = self._parse(expanded)
                if len(failed) and len(batch.flags) == len(expanded.starts):
                    flags = batch.flags.copy()
                    flags[failed] |= ROW_PARSE_FALLBACK
                    batch = replace(batch, flags=flags, fallback=batch.fallback + len(failed))
                return batch
        else:
            head = self._head(raw)
        return self._finish(raw, head)

    def _head(self, raw: RawBatch) -> _Head:
        """Every frame's header (syslog, or JSON rows decoded), one row per frame."""
        data = raw.data
        starts = raw.starts.astype(np.int64)
        ends = raw.ends.astype(np.int64)
        n = len(starts)
        cols = parse_frames(data, starts, ends, raw.recv_ns, self.tz)
        fmt = cols.format.copy()
        time_ns = cols.time_ns
        severity, facility = cols.severity, cols.facility
        spans = cols.spans.copy()  # rows named in native_kernels.syslog (HOST_START, ...)
        flags = np.zeros(n, np.uint8)
        ff = raw.frame_flags
        flags[(ff & TRUNCATED) != 0] |= ROW_TRUNCATED
        flags[(ff & FRAMING_ERROR) != 0] |= ROW_FRAMING_ERROR
        flags[(cols.flags & FLAG_BEST_EFFORT) != 0] |= ROW_BEST_EFFORT
        flags[(cols.flags & FLAG_BOM) != 0] |= ROW_BOM

        json_fields = None
        fallback = 0
        is_json = np.flatnonzero(fmt == FORMAT_JSON)
        if len(is_json):
            data, time_ns, severity, json_fields, bad = self._apply_json(
                is_json, data, starts, ends, fmt, time_ns, severity, spans, raw.recv_ns, self.roles(raw.field_names)
            )
            flags[bad] |= ROW_PARSE_FALLBACK
            fallback = len(bad)
        raw_bytes = int((ends - starts).sum())
        return _Head(data, fmt, time_ns, severity, facility, spans, flags, json_fields, fallback, raw.source, raw_bytes)

    def _request_head(self, raw: RawBatch) -> _Head | None:
        """The rows of a batch that is one OTLP or Loki request, by engine.parse.otlp_rows or
        engine.parse.loki_rows; None when that shortcut does not apply (then the general path's
        frames are parsed instead)."""
        if len(raw.starts) != 1 or not self.settings.json or raw.field_names or not self._roles[b""].plain:
            return None
        frame = raw.data[int(raw.starts[0]) : int(raw.ends[0])].tobytes()
        is_loki = bool(raw.frame_flags[0] & LOKI_REQUEST)
        try:
            rows: OtlpRows | None = (loki_rows if is_loki else otlp_rows)(frame, raw.recv_ns, self.max_len)
        except Exception:  # a bug in the shortcut costs its speed, never the rows
            log.exception("the %s request shortcut failed; taking the general path", "Loki" if is_loki else "OTLP")
            return None
        if rows is None:
            return None
        n = len(rows.time_ns)
        spans = np.full((SPAN_MATRIX_ROWS, n), -1, np.int64)
        for (start_row, end_row), (s, e) in zip(
            ((HOST_START, HOST_END), (APP_START, APP_END), (MSG_START, MSG_END)), (rows.host, rows.app, rows.message)
        ):
            spans[start_row], spans[end_row] = s, e
        fields = (rows.field_row, rows.field_key, rows.field_value) if len(rows.field_row) else None
        return _Head(
            rows.data,
            np.full(n, FORMAT_JSON, np.uint8),
            rows.time_ns,
            rows.severity,
            np.full(n, NO_VALUE, np.uint8),
            spans,
            np.zeros(n, np.uint8),
            fields,
            0,
            np.full(n, raw.source[0] if len(raw.source) else 0, np.uint16),
            len(frame),
        )

    def _expand(self, raw: RawBatch) -> tuple[RawBatch, list[int]]:
        """`raw` with each OTLP or Loki request frame replaced by the JSON frames of its records
        (engine.push.otlp, engine.push.loki); a request that does not decode (the API checked
        it, so a damaged ring) stays one frame, a plain row to be flagged: its index is in the
        list returned."""
        failed: list[int] = []
        pieces: list[bytes] = []
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        flags: list[np.ndarray] = []
        source: list[np.ndarray] = []
        pos = 0
        for k, (s, e, f) in enumerate(zip(raw.starts.tolist(), raw.ends.tolist(), raw.frame_flags.tolist())):
            frame = raw.data[s:e].tobytes()
            buf, f_starts, f_ends, f_flags = (
                frame,
                np.zeros(1, np.int64),
                np.full(1, len(frame)),
                np.full(1, f, np.uint8),
            )
            if f & WHOLE_REQUEST:
                f_flags[0] = f & ~WHOLE_REQUEST
                try:
                    if f & OTLP_REQUEST:
                        frames = otlp.protobuf(frame, raw.recv_ns)
                    else:
                        frames = LokiDecoder().protobuf(frame, raw.recv_ns)
                    buf, f_starts, f_ends, f_flags = frames.packed(self.max_len)
                except PushRefused as exc:
                    log.error("a push request in a raw batch does not decode (%s); kept as one plain row", exc)
                    failed.append(sum(map(len, starts)))
            pieces.append(buf)
            starts.append(f_starts + pos)
            ends.append(f_ends + pos)
            flags.append(f_flags)
            source.append(np.full(len(f_starts), raw.source[k] if len(raw.source) else 0, np.uint16))
            pos += len(buf)
        data = np.frombuffer(b"".join(pieces), np.uint8)
        expanded = raw._replace(
            starts=np.concatenate(starts).astype(np.uint32),
            ends=np.concatenate(ends).astype(np.uint32),
            frame_flags=np.concatenate(flags).astype(np.uint8),
            source=np.concatenate(source),
            data=data,
        )
        return expanded, failed

    def _finish(self, raw: RawBatch, head: _Head) -> ColumnBatch:
        """The column batch of rows whose headers are read: time bounds, dictionaries, fields."""
        data, fmt, time_ns, severity, facility, spans, flags, json_fields, fallback, row_source, raw_bytes = head
        n = len(fmt)

        # Out-of-range times (engine.parse.time_bounds): adjusted here, dropped once alerts
        # have counted them (alerts count rows as they arrive, whatever their time).
        time_codes = self.bounds.classify(time_ns, raw.recv_ns)
        out_of_range = np.flatnonzero(time_codes)
        adjusted = None
        if len(out_of_range) and not self.bounds.drop:
            adjusted = adjust_fields(out_of_range, time_ns[out_of_range], time_codes[out_of_range])
            time_ns = time_ns.copy()
            time_ns[out_of_range] = raw.recv_ns

        host_data = data
        if self.settings.host_from_source:
            host_data = self._host_from_source(raw, row_source, data, spans, flags)

        d = self.dicts
        host = d.encode("host", host_data, spans[HOST_START], spans[HOST_END])
        app = d.encode("app", data, spans[APP_START], spans[APP_END])
        procid = d.encode("procid", data, spans[PROCID_START], spans[PROCID_END])
        msgid = d.encode("msgid", data, spans[MSGID_START], spans[MSGID_END])
        # Sources: a few per batch, so encode the batch's list and index it per row.
        blob = np.frombuffer("\n".join(raw.sources).encode(), np.uint8) if raw.sources else np.empty(0, np.uint8)
        lens = np.array([len(s.encode()) for s in raw.sources], np.int64)
        s_starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]]) if len(lens) else np.empty(0, np.int64)
        source_ids = d.encode("source", blob, s_starts, s_starts + lens)
        source = source_ids[row_source] if len(source_ids) else np.zeros(n, np.uint32)

        msg_off, msg_data = take_spans(data, spans[MSG_START], spans[MSG_END])
        sd_off, sd_data = take_spans(data, spans[SD_START], spans[SD_END])
        alerts = self.alerts if self.alerts is not None and self.alerts.active else None
        hits = alerts.patterns(msg_off, msg_data) if alerts else None
        if alerts:
            self.dicts.keep_values(alerts.needs_values)
        pairs = self._fields(data, spans, n, json_fields, adjusted, with_alert_key=alerts is not None)
        batch = ColumnBatch(
            raw_bytes=raw_bytes,
            dicts=d.take_updates(),
            time=time_ns.astype(np.int64, copy=False),
            recv=np.full(n, raw.recv_ns, np.int64),
            severity=severity,
            facility=facility,
            format=fmt,
            flags=flags,
            host=host,
            app=app,
            procid=procid,
            msgid=msgid,
            source=source,
            msg_off=_u32(msg_off),
            msg_data=msg_data,
            sd_off=_u32(sd_off),
            sd_data=sd_data,
            kv_ptr=pairs.kv_ptr,
            kv_key=pairs.kv_key,
            kv_kind=pairs.kv_kind,
            kv_off=pairs.kv_off,
            kv_data=pairs.kv_data,
            fallback=fallback,
            out_of_range=time_bounds.counts(time_codes),
        )
        if alerts:
            batch = alerts.finish(batch, d.values, pairs.alert_key, hits, raw.recv_ns)
        if len(out_of_range) and self.bounds.drop:
            batch = _keep_rows(batch, time_codes == time_bounds.IN_RANGE)
        return batch

    def _host_from_source(
        self, raw: RawBatch, row_source: np.ndarray, data: np.ndarray, spans: np.ndarray, flags: np.ndarray
    ) -> np.ndarray:
        """Rows whose header names no host get the sender's address (flagged); returns the
        buffer the host spans point into (`data`, or a copy with the addresses appended)."""
        missing = spans[HOST_START] < 0
        if not raw.sources or not missing.any():
            return data
        addrs = [address_of(s) for s in raw.sources]
        blob = b"".join(a or b"" for a in addrs)
        lens = np.array([len(a) if a else 0 for a in addrs], np.int64)
        a_ends = len(data) + np.cumsum(lens)
        a_starts = a_ends - lens
        has = lens[row_source] > 0
        rows = np.flatnonzero(missing & has)
        if not len(rows):
            return data
        src = row_source[rows]
        spans[HOST_START, rows] = a_starts[src]
        spans[HOST_END, rows] = a_ends[src]
        flags[rows] |= ROW_HOST_FROM_SOURCE
        return np.concatenate([data, np.frombuffer(blob, np.uint8)])

    # --- a batch that fails -------------------------------------------------------------------
    def _isolate(self, raw: RawBatch) -> ColumnBatch:
        """Parse every row of `raw` that parses; the rows that make parsing fail become plain
        rows flagged `parse_fallback`. The failed attempt may have assigned dictionary ids:
        their entries still ship, or later batches' ids would not resolve at the writer."""
        earlier = self.dicts.take_updates()
        bad = _failing_rows(BatchParser(self.settings), raw)
        n = len(raw.starts)
        if bad is None or len(bad) == n:
            batch = self.parse_plain(raw)
        else:
            keep = np.ones(n, bool)
            keep[bad] = False
            batch = self._parse(_subset(raw, np.flatnonzero(keep)))
            if len(bad):
                batch = _append_rows(batch, self.parse_plain(_subset(raw, bad)))
        return replace(
            batch,
            dicts=_merge_updates(earlier, batch.dicts),
            fallback=batch.fallback + (n if bad is None else len(bad)),
        )

    # --- fields -------------------------------------------------------------------------------
    def _fields(
        self,
        data: np.ndarray,
        spans: np.ndarray,
        n: int,
        json_fields: _JsonFields | None,
        adjusted: AdjustFields | None = None,
        with_alert_key: bool = False,
    ) -> _Pairs:
        """Every key/value pair of the batch as CSR arrays grouped by row (a row's pairs in this
        order: key=value, SD, JSON, then `sender_time` and `time_adjusted` for an adjusted
        row, so its message's pairs still come first, as derived fields need); with `with_alert_key`,
        also the id of the key alert pairs are added under (`alert_key`): keys are encoded once
        per batch, so it is encoded here with them."""
        rows: list[np.ndarray] = []
        kinds: list[np.ndarray] = []
        key_parts: list[_Values] = []
        val_parts: list[_Values] = []
        cap = self.settings.max_fields_per_row
        if self.settings.extract_kv and cap:
            pairs = extract_kv(data, spans[MSG_START], spans[MSG_END], cap)
            if len(pairs.row):
                rows.append(pairs.row.astype(np.int64))
                kinds.append(np.full(len(pairs.row), KV_FIELD, np.uint8))
                key_parts.append(take_spans(data, pairs.key_s, pairs.key_e))
                val_parts.append(take_spans(data, pairs.val_s, pairs.val_e))
        has_sd = spans[SD_START] >= 0
        if has_sd.any():
            sd = extract_sd(data, spans[SD_START], spans[SD_END])
            if len(sd.row):
                rows.append(sd.row.astype(np.int64))
                kinds.append(np.full(len(sd.row), KV_SD, np.uint8))
                key_parts.append(join_spans(data, sd.id_s, sd.id_e, sd.name_s, sd.name_e, ord(".")))
                val_parts.append((sd.value_offsets, sd.values))
        if json_fields is not None and len(json_fields[0]):
            j_rows, j_keys, j_vals = json_fields
            rows.append(j_rows)
            kinds.append(np.full(len(j_rows), KV_FIELD, np.uint8))
            key_parts.append(j_keys)
            val_parts.append(j_vals)
        if adjusted is not None:
            rows.append(adjusted.rows)
            kinds.append(np.full(len(adjusted.rows), KV_FIELD, np.uint8))
            key_parts.append(adjusted.keys)
            val_parts.append(adjusted.values)
        if not rows:
            keys_off, keys_data = np.zeros(1, np.int64), np.empty(0, np.uint8)
            row = np.empty(0, np.int64)
            kind = np.empty(0, np.uint8)
            val_off, val_data = np.zeros(1, np.int64), np.empty(0, np.uint8)
        else:
            row = np.concatenate(rows)
            kind = np.concatenate(kinds)
            keys_off, keys_data = _concat_values(key_parts)
            val_off, val_data = _concat_values(val_parts)
            if len(rows) > 1:
                order = np.argsort(row, kind="stable")
                row, kind = row[order], kind[order]
                keys_off, keys_data = take_spans(keys_data, keys_off[:-1][order], keys_off[1:][order])
                val_off, val_data = take_spans(val_data, val_off[:-1][order], val_off[1:][order])
        alert_key = 0
        if with_alert_key:
            keys_data = np.concatenate([keys_data[: keys_off[-1]], np.frombuffer(ALERT_KEY, np.uint8)])
            keys_off = np.append(keys_off, keys_off[-1] + len(ALERT_KEY))
        key_ids = self.dicts.encode(FIELD_KEYS, keys_data, keys_off[:-1], keys_off[1:])
        if with_alert_key:
            alert_key = int(key_ids[-1])
            key_ids = key_ids[:-1]
        kv_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(row, minlength=n), out=kv_ptr[1:])
        return _Pairs(_u32(kv_ptr), key_ids, kind, _u32(val_off), val_data, alert_key)

    # --- JSON ---------------------------------------------------------------------------------
    def _apply_json(
        self,
        idx: np.ndarray,
        data: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        fmt: np.ndarray,
        time_ns: np.ndarray,
        severity: np.ndarray,
        spans: np.ndarray,
        recv_ns: int,
        roles: KeyRoles,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _JsonFields | None, np.ndarray]:
        """Decode the rows detected as JSON; rows that are not JSON objects the decoder accepts
        become plain text (returned last: their indices, to be flagged). Python touches each JSON
        row here (msgspec does the decoding): JSON is the one
        format whose fields cannot be cut out of the bytes by a kernel."""
        if not self.settings.json:
            fmt[idx] = FORMAT_PLAIN
            return data, time_ns, severity, None, idx[:0]
        res = decode_json_rows(data, starts[idx], ends[idx], recv_ns, roles)
        ok_mask = np.asarray(res.ok, bool)
        ok, bad = idx[ok_mask], idx[~ok_mask]
        fmt[bad] = FORMAT_PLAIN
        spans[:MSG_START, bad] = -1  # every field before the message
        spans[MSG_START, bad] = starts[bad]
        spans[MSG_END, bad] = ends[bad]
        if not len(ok):
            return data, time_ns, severity, None, bad
        time_ns = time_ns.copy()
        severity = severity.copy()
        time_ns[ok] = res.time_ns[ok_mask]
        severity[ok] = res.severity[ok_mask]
        # Decoded strings are appended to a copy of the batch buffer, so every string column
        # stays a span of one buffer.
        pieces: list[bytes] = []
        pos = len(data)
        n_ok = len(ok)
        pick = None if n_ok == len(ok_mask) else np.flatnonzero(ok_mask).tolist()
        for col, start_row, end_row in (
            ("host", HOST_START, HOST_END),
            ("app", APP_START, APP_END),
            ("message", MSG_START, MSG_END),
        ):
            values = getattr(res, col)
            if pick is not None:
                values = [values[r] for r in pick]
            s = np.full(n_ok, -1, np.int64)
            e = np.full(n_ok, -1, np.int64)
            # one C-level pass per step (map, compress), not a Python line per row
            present = None if None not in values else np.fromiter(map(is_not, values, repeat(None)), np.bool_, n_ok)
            kept = values if present is None else list(compress(values, present))
            if kept:
                lengths = np.fromiter(map(len, kept), np.int64, len(kept))
                col_ends = pos + np.cumsum(lengths)
                if present is None:
                    s[:], e[:] = col_ends - lengths, col_ends
                else:
                    s[present], e[present] = col_ends - lengths, col_ends
                pieces += kept
                pos = int(col_ends[-1])
            spans[start_row, ok] = s
            spans[end_row, ok] = e
        for start_row, end_row in ((PROCID_START, PROCID_END), (MSGID_START, MSGID_END), (SD_START, SD_END)):
            spans[start_row, ok] = -1  # JSON rows have no procid, msgid or SD
            spans[end_row, ok] = -1
        data = np.concatenate([data, np.frombuffer(b"".join(pieces), np.uint8)])
        fields = None
        if len(res.field_row):
            rows = idx[np.asarray(res.field_row, np.int64)]
            fields = (rows, _pack(res.field_key), _pack(res.field_value))
        return data, time_ns, severity, fields, bad

    def parse_plain(self, raw: RawBatch) -> ColumnBatch:
        """Fallback: every frame as a plain-text row with the receive time (no kernels but gathers)."""
        n = len(raw.starts)
        starts = raw.starts.astype(np.int64)
        ends = raw.ends.astype(np.int64)
        msg_off, msg_data = take_spans(raw.data, starts, ends)
        # No dictionary values (id 0 everywhere); entries the failed attempt already assigned
        # still ship in this header, or later batches' ids would not resolve at the writer.
        no_ids = np.zeros(n, np.uint32)
        flags = np.full(n, ROW_BEST_EFFORT | ROW_PARSE_FALLBACK, np.uint8)
        flags[(raw.frame_flags & TRUNCATED) != 0] |= ROW_TRUNCATED
        return ColumnBatch(
            raw_bytes=int((ends - starts).sum()),
            dicts=self.dicts.take_updates(),
            time=np.full(n, raw.recv_ns, np.int64),
            recv=np.full(n, raw.recv_ns, np.int64),
            severity=np.full(n, NO_VALUE, np.uint8),
            facility=np.full(n, NO_VALUE, np.uint8),
            format=np.full(n, FORMAT_PLAIN, np.uint8),
            flags=flags,
            host=no_ids,
            app=no_ids,
            procid=no_ids,
            msgid=no_ids,
            source=no_ids,
            msg_off=_u32(msg_off),
            msg_data=msg_data,
            sd_off=np.zeros(n + 1, np.uint32),
            sd_data=np.empty(0, np.uint8),
            kv_ptr=np.zeros(n + 1, np.uint32),
            kv_key=np.empty(0, np.uint32),
            kv_kind=np.empty(0, np.uint8),
            kv_off=np.zeros(1, np.uint32),
            kv_data=np.empty(0, np.uint8),
        )


def address_of(source: str) -> bytes | None:
    """The host part of a sender's "ip:port" / "[ipv6]:port" (None when it is not one)."""
    host, sep, port = source.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]").encode()


def _subset(raw: RawBatch, rows: np.ndarray) -> RawBatch:
    return raw._replace(
        starts=raw.starts[rows], ends=raw.ends[rows], source=raw.source[rows], frame_flags=raw.frame_flags[rows]
    )


def _failing_rows(probe: BatchParser, raw: RawBatch) -> np.ndarray | None:
    """The rows of `raw` whose parsing raises, found by bisection with a throwaway parser
    (`probe`, so that failed attempts leave no state behind); None past MAX_ISOLATED_ROWS."""
    bad: list[int] = []

    def parses(rows: np.ndarray) -> bool:
        try:
            probe._parse(_subset(raw, rows))
            return True
        except Exception:
            probe.dicts.take_updates()
            return False

    pending = [np.arange(len(raw.starts))]
    while pending:
        rows = pending.pop()
        if not len(rows) or parses(rows):
            continue
        if len(rows) == 1:
            bad.append(int(rows[0]))
            if len(bad) > MAX_ISOLATED_ROWS:
                return None
            continue
        half = len(rows) // 2
        pending += [rows[half:], rows[:half]]
    return np.array(sorted(bad), np.int64)


def _append_rows(a: ColumnBatch, b: ColumnBatch) -> ColumnBatch:
    """The rows of `b` after those of `a`: one batch of both, its dictionary entries both's."""
    arrays: dict[str, np.ndarray] = {}
    for name, _ in ARRAYS:
        first, second = getattr(a, name), getattr(b, name)
        if name in OFFSET_ARRAYS:
            arrays[name] = np.concatenate([first, (second[1:] + first[-1]).astype(first.dtype)])
        else:
            arrays[name] = np.concatenate([first, second.astype(first.dtype, copy=False)])
    for off, data in VALUE_ARRAYS:
        arrays[data] = np.concatenate(
            [getattr(a, data)[: getattr(a, off)[-1]], getattr(b, data)[: getattr(b, off)[-1]]]
        )
    return ColumnBatch(
        raw_bytes=a.raw_bytes + b.raw_bytes,
        dicts=_merge_updates(a.dicts, b.dicts),
        origin=a.origin,
        fallback=a.fallback + b.fallback,
        out_of_range=(a.out_of_range[0] + b.out_of_range[0], a.out_of_range[1] + b.out_of_range[1]),
        **arrays,
    )


def _keep_rows(batch: ColumnBatch, keep: np.ndarray) -> ColumnBatch:
    """`batch` with only the rows where `keep` is true (its header, dictionary entries included,
    unchanged: later batches may use the entries)."""
    idx = np.flatnonzero(keep)
    per_row = ("time", "recv", "severity", "facility", "format", "flags", *DICT_COLUMNS)
    arrays: dict[str, Any] = {name: getattr(batch, name)[idx] for name in per_row}
    for off, data in (("msg_off", "msg_data"), ("sd_off", "sd_data")):
        offsets = getattr(batch, off).astype(np.int64)
        new_off, arrays[data] = take_spans(getattr(batch, data), offsets[:-1][idx], offsets[1:][idx])
        arrays[off] = _u32(new_off)
    kv_ptr = batch.kv_ptr.astype(np.int64)
    pairs = np.flatnonzero(np.repeat(keep, np.diff(kv_ptr)))
    kv_off = batch.kv_off.astype(np.int64)
    new_kv_off, arrays["kv_data"] = take_spans(batch.kv_data, kv_off[:-1][pairs], kv_off[1:][pairs])
    arrays["kv_off"] = _u32(new_kv_off)
    arrays["kv_key"] = batch.kv_key[pairs]
    arrays["kv_kind"] = batch.kv_kind[pairs]
    new_ptr = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(np.diff(kv_ptr)[idx], out=new_ptr[1:])
    arrays["kv_ptr"] = _u32(new_ptr)
    return replace(batch, **arrays)


def _merge_updates(earlier: DictionaryUpdates, later: DictionaryUpdates) -> DictionaryUpdates:
    """Dictionary updates of two encodings of one batch's columns, as one header section.
    Entries of an epoch the later encoding replaced are dropped: no batch uses those ids."""
    merged = dict(later)
    for column, (epoch, entries) in earlier.items():
        if column not in merged:
            merged[column] = (epoch, entries)
        elif merged[column][0] == epoch:
            merged[column] = (epoch, entries + merged[column][1])
    return merged
