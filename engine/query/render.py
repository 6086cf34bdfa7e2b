"""Rows → JSON objects for NDJSON output: every column, with bytes shown as UTF-8 (U+FFFD for
invalid sequences, only here at output: storage keeps the bytes as received)."""

from __future__ import annotations

import numpy as np

from engine.query.objects import JsonObject
from engine.query.row_id import ROW_ID, row_ids
from engine.store.rows import FLAG_NAMES, FORMATS, KV_ALERT, KV_SD, NO_VALUE, Rows
from native_kernels.sd import extract_sd


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def format_times(ns: np.ndarray) -> list[str]:
    """RFC 3339 UTC with nanoseconds, e.g. 2026-11-22T21:46:55.123456789Z."""
    return [s + "Z" for s in np.datetime_as_string(ns.astype("datetime64[ns]"), unit="ns").tolist()]


def _sd_object(raw: bytes) -> dict[str, dict[str, str]] | None:
    if not raw:
        return None
    data = np.frombuffer(raw, np.uint8)
    sd = extract_sd(data, np.array([0], np.int64), np.array([len(raw)], np.int64))
    out: dict[str, dict[str, str]] = {}
    for k in range(len(sd.row)):
        sd_id = _text(raw[sd.id_s[k] : sd.id_e[k]])
        params = out.setdefault(sd_id, {})
        if sd.name_s[k] >= 0:
            name = _text(raw[sd.name_s[k] : sd.name_e[k]])
            params[name] = _text(sd.values[sd.value_offsets[k] : sd.value_offsets[k + 1]].tobytes())
    return out


def row_objects(rows: Rows, idx: np.ndarray | None = None) -> list[JsonObject]:
    """JSON-ready dicts of rows `idx` (all rows when None), in that order."""
    if idx is None:
        idx = np.arange(len(rows))
    times = format_times(rows.time[idx])
    recvs = format_times(rows.recv[idx])
    ids = row_ids(rows, idx)
    out = []
    for k, i in enumerate(idx.tolist()):
        sev = int(rows.severity[i])
        fac = int(rows.facility[i])
        obj: JsonObject = {
            "_time": times[k],
            "_recv": recvs[k],
            ROW_ID: ids[k],
            "severity": None if sev == NO_VALUE else sev,
            "facility": None if fac == NO_VALUE else fac,
        }
        for col in ("host", "app", "procid", "msgid"):
            v = rows.value(col, i)
            obj[col] = None if v is None else _text(v)
        obj["message"] = _text(rows.message(i))
        obj["sd"] = _sd_object(rows.sd(i))
        fields: dict[str, str] = {}
        alerts: list[str] = []
        for key, kind, value in rows.fields(i):
            if kind == KV_ALERT:
                alerts.append(_text(value))
            elif kind != KV_SD:
                fields[_text(key)] = _text(value)
        obj["fields"] = fields
        if alerts:
            obj["_alerts"] = alerts
        fmt = int(rows.format[i])
        obj["format"] = FORMATS[fmt] if fmt < len(FORMATS) else str(fmt)
        src = rows.value("source", i)
        obj["source"] = None if src is None else _text(src)
        flags = int(rows.flags[i])
        if flags:
            obj["_flags"] = [name for bit, name in FLAG_NAMES.items() if flags & bit]
        out.append(obj)
    return out
