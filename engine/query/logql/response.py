"""Loki's JSON shapes for query answers: streams, matrix, vector and scalar results, and the
`stats` object beside them. Numbers are written as Loki writes them: times in seconds (a JSON
number), sample values as strings in Go's shortest `%f` form (`"2"`, `"0.5"`, `"NaN"`, `"+Inf"`)."""

from __future__ import annotations

import math

import numpy as np

from engine.query.logql.metric import Scalar, SeriesSet
from engine.query.objects import Json, JsonObject


def format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return np.format_float_positional(v, trim="-")


def seconds(ns: int) -> float:
    return ns / 1e9


def matrix(series: SeriesSet | Scalar, times: np.ndarray) -> list[JsonObject]:
    """`[{"metric": labels, "values": [[t, "v"], ...]}]`, series with no point left out."""
    if isinstance(series, Scalar):
        return [{"metric": {}, "values": [[seconds(int(t)), format_value(series.value)] for t in times.tolist()]}]
    out: list[JsonObject] = []
    ts = [seconds(int(t)) for t in times.tolist()]
    for labels in sorted(series):
        s = series[labels]
        points: list[Json] = [[ts[k], format_value(v)] for k, v in enumerate(s.values.tolist()) if s.present[k]]
        if points:
            out.append({"metric": dict(labels), "values": points})
    return out


def vector(series: SeriesSet, time_ns: int) -> list[JsonObject]:
    """`[{"metric": labels, "value": [t, "v"]}]` at the one step of an instant query."""
    t = seconds(time_ns)
    return [
        {"metric": dict(labels), "value": [t, format_value(float(s.values[0]))]}
        for labels, s in sorted(series.items())
        if s.present[0]
    ]


def scalar(value: Scalar, time_ns: int) -> list[Json]:
    return [seconds(time_ns), format_value(value.value)]


def stats(exec_s: float, lines: int, bytes_: int, returned: int) -> JsonObject:
    """The `summary` Grafana's query inspector shows; the rest of Loki's object is left out."""
    per_s = 1 / exec_s if exec_s > 0 else 0.0
    return {
        "summary": {
            "bytesProcessedPerSecond": int(bytes_ * per_s),
            "linesProcessedPerSecond": int(lines * per_s),
            "totalBytesProcessed": bytes_,
            "totalLinesProcessed": lines,
            "execTime": exec_s,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": returned,
        }
    }
