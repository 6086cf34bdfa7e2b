"""Notification payloads: a batch of `Alert`s → the bytes one notifier type sends (Alertmanager's
webhook v4 body, Alertmanager API v2 alert list, NDJSON lines). Pure functions; `notify.py` owns
queues, retries and delivery.

Times are RFC 3339 UTC with milliseconds and "Z" (2026-11-29T18:00:00.123Z), as Alertmanager
writes them. The webhook body follows Alertmanager's template data so receivers written for it
(and its example receivers) work unchanged; `value` per alert is logjet's addition.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from engine.alert.model import Alert

WEBHOOK_VERSION = "4"  # Alertmanager's webhook format version we follow
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: Alertmanager's endsAt of a firing alert
# Alertmanager resolves an alert by itself at its endsAt. The evaluator re-sends firing alerts
# every resend_interval (1m by default), so 5 minutes survive a few lost re-sends yet still
# resolve an alert whose engine died.
AM_FIRING_TTL_S = 300.0

_encode = msgspec.json.Encoder().encode


def rfc3339(t: float) -> str:
    """Epoch seconds → "2026-11-29T18:00:00.123Z" (UTC, milliseconds)."""
    sec, ms = divmod(round(t * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{ms:03d}Z"


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    """The key/value pairs present, with equal values, in every map."""
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def group_by_rule(alerts: Iterable[Alert]) -> list[list[Alert]]:
    """Alerts split per rule, rules and alerts in first-seen order (one webhook request each)."""
    groups: dict[str, list[Alert]] = {}
    for a in alerts:
        groups.setdefault(a.rule, []).append(a)
    return list(groups.values())


def webhook_body(receiver: str, alerts: list[Alert]) -> bytes:
    """One webhook request: Alertmanager's webhook JSON (version 4) for `alerts` (not empty)."""
    rules = {a.rule for a in alerts}
    group_labels = {"alertname": next(iter(rules))} if len(rules) == 1 else {}
    # Alertmanager's groupKey is "<route key>:<group labels>"; logjet has one flat route, "{}"
    group_key = "{}:{" + ",".join(f"{k}={_encode(v).decode()}" for k, v in group_labels.items()) + "}"
    return _encode(
        {
            "version": WEBHOOK_VERSION,
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": "firing" if any(a.status == "firing" for a in alerts) else "resolved",
            "receiver": receiver,
            "groupLabels": group_labels,
            "commonLabels": _common([a.labels for a in alerts]),
            "commonAnnotations": _common([a.annotations for a in alerts]),
            "externalURL": "",
            "alerts": [
                {
                    "status": a.status,
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(a.ends_at) if a.ends_at is not None else ZERO_TIME,
                    "generatorURL": a.generator_url,
                    "fingerprint": a.fingerprint,
                    "value": a.value,
                }
                for a in alerts
            ],
        }
    )


def alertmanager_body(alerts: list[Alert], now: float) -> bytes:
    """Alertmanager `POST /api/v2/alerts` body: a list of its postableAlert objects."""
    return _encode(
        [
            {
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                # a firing alert is "resolved at endsAt unless re-sent"; a resolved one ended then
                "endsAt": rfc3339(now + AM_FIRING_TTL_S if a.status == "firing" or a.ends_at is None else a.ends_at),
                "generatorURL": a.generator_url,
            }
            for a in alerts
        ]
    )


def file_lines(notifier: str, alerts: list[Alert], now: float) -> bytes:
    """NDJSON for a file notifier: one object per alert, each line ending in "\\n"."""
    stamp = rfc3339(now)
    return b"".join(
        _encode(
            {
                "time": stamp,
                "notifier": notifier,
                "status": a.status,
                "rule": a.rule,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": rfc3339(a.ends_at) if a.ends_at is not None else None,
                "value": a.value,
                "fingerprint": a.fingerprint,
                "generatorURL": a.generator_url,
            }
        )
        + b"\n"
        for a in alerts
    )
