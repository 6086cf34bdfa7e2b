"""Silences: label matchers over a time range that mute notifications of the alerts they match,
as in Alertmanager (same JSON shape: matchers of name/value/isRegex/isEqual, startsAt, endsAt).

Kept in `<data_dir>/alerts/silences.json` (written whole, atomically, on every change) so that
they outlive restarts. Expired silences are kept for a day for the record, then forgotten.
A silence has at most `MAX_MATCHERS` matchers and ends at most `MAX_SPAN_NS` from now: each is
checked against every alert, and one that never ends would outlive whoever set it.
"""

from __future__ import annotations

import os
import re
import secrets
import time

import msgspec

from engine.errors import LogjetError
from engine.units import parse_duration_ns, parse_time_ns

KEEP_EXPIRED_NS = 24 * 3600 * 10**9
MAX_MATCHERS = 100
MAX_SPAN_NS = 365 * 24 * 3600 * 10**9  # a year


class SilenceError(LogjetError, ValueError):
    """A silence request that cannot be used; the message says why."""


class Matcher(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: str
    isRegex: bool = False
    isEqual: bool = True


class Silence(msgspec.Struct):
    id: str
    matchers: list[Matcher]
    startsAt: int  # ns
    endsAt: int  # ns
    createdBy: str = ""
    comment: str = ""


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    matchers: list[Matcher]
    startsAt: str | None = None
    endsAt: str | None = None
    duration: str | None = None  # instead of endsAt: "2h"
    createdBy: str = ""
    comment: str = ""
    id: str | None = None  # Alertmanager's clients send it when updating; accepted, ignored


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9 // 10**6:03d}Z"


class Silences:
    def __init__(self, path: str | None):
        self.path = path
        self.items: dict[str, Silence] = {}
        self._compiled: dict[str, re.Pattern[str]] = {}
        if path and os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    for s in msgspec.json.decode(f.read(), type=list[Silence]):
                        self.items[s.id] = s
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise SilenceError(f"cannot read silences from {path}: {exc}") from None

    def add(self, body: bytes, now_ns: int | None = None) -> Silence:
        now = now_ns or time.time_ns()
        try:
            req = msgspec.json.decode(body, type=_Request)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise SilenceError(f"bad silence: {exc}") from None
        if not req.matchers:
            raise SilenceError("a silence needs at least one matcher")
        if len(req.matchers) > MAX_MATCHERS:
            raise SilenceError(f"a silence has at most {MAX_MATCHERS} matchers, not {len(req.matchers)}")
        for m in req.matchers:
            if not m.name:
                raise SilenceError("a matcher needs a label name")
            if m.isRegex:
                try:
                    re.compile(m.value)
                except re.error as exc:
                    raise SilenceError(f"matcher {m.name}: bad regex {m.value!r}: {exc}") from None
        try:
            start = parse_time_ns(req.startsAt, now) if req.startsAt else now
            if req.endsAt:
                end = parse_time_ns(req.endsAt, now)
            elif req.duration:
                end = start + parse_duration_ns(req.duration)
            else:
                raise SilenceError("a silence needs endsAt or duration")
        except ValueError as exc:
            raise SilenceError(f"bad silence time: {exc}") from None
        if end <= start or end <= now:
            raise SilenceError("a silence must end after it starts, and in the future")
        if end > now + MAX_SPAN_NS:
            days = (end - now) // (24 * 3600 * 10**9)
            raise SilenceError(f"a silence must end within a year (365d) from now, not in {days} days")
        s = Silence(secrets.token_hex(8), req.matchers, start, end, req.createdBy, req.comment)
        self.items[s.id] = s
        self._save()
        return s

    def expire(self, sid: str, now_ns: int | None = None) -> bool:
        """End a silence now (DELETE); False when there is none with that id."""
        s = self.items.get(sid)
        if s is None:
            return False
        now = now_ns or time.time_ns()
        if s.endsAt > now:
            s.endsAt = max(now, s.startsAt)
            self._save()
        return True

    def state(self, s: Silence, now: int) -> str:
        return "pending" if now < s.startsAt else "active" if now < s.endsAt else "expired"

    def matching(self, labels: dict[str, str], now_ns: int) -> list[str]:
        """Ids of the active silences that match `labels`."""
        return [
            s.id
            for s in self.items.values()
            if s.startsAt <= now_ns < s.endsAt and all(self._match(m, labels) for m in s.matchers)
        ]

    def _match(self, m: Matcher, labels: dict[str, str]) -> bool:
        value = labels.get(m.name, "")
        if m.isRegex:
            rx = self._compiled.get(m.value)
            if rx is None:
                rx = self._compiled[m.value] = re.compile(m.value)
            hit = rx.fullmatch(value) is not None  # anchored, as in Alertmanager
        else:
            hit = value == m.value
        return hit if m.isEqual else not hit

    def as_json(self, now_ns: int | None = None) -> list[dict[str, object]]:
        now = now_ns or time.time_ns()
        self._forget_old(now)
        return [
            {
                "id": s.id,
                "status": {"state": self.state(s, now)},
                "matchers": msgspec.to_builtins(s.matchers),
                "startsAt": _rfc3339(s.startsAt),
                "endsAt": _rfc3339(s.endsAt),
                "createdBy": s.createdBy,
                "comment": s.comment,
            }
            for s in sorted(self.items.values(), key=lambda s: s.startsAt)
        ]

    def _forget_old(self, now: int) -> None:
        old = [k for k, s in self.items.items() if s.endsAt < now - KEEP_EXPIRED_NS]
        for k in old:
            del self.items[k]
        if old:
            self._save()

    def _save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(list(self.items.values())))
        os.replace(tmp, self.path)
