"""Request parameters of Loki's HTTP API, read as Loki reads them, and its plain-text errors.

- times (`start`, `end`, `time`): nanoseconds since the epoch, or seconds when the number has
  at most 10 digits or a decimal point, or RFC 3339;
- `since`, and `step` (seconds as a number, or a duration such as `1m` or `60000ms`);
- `limit` (at most `query.max_rows_limit`) and `direction` (`backward`, `forward`).

A bad value raises `LokiParamError`, answered 400 with the parameter named.
"""

from __future__ import annotations

import math
import time
from typing import Mapping

from aiohttp import web

from engine.api.query_routes import RETRY_AFTER_S
from engine.errors import LogjetError
from engine.query.limits import LimitParamError, requested_limit
from engine.query.logql.durations import DurationError, parse_duration_ns
from engine.units import rfc3339_ns

PREFIX = "/loki/api/v1"
DEFAULT_SINCE_NS = 3600 * 10**9  # queries: the last hour, as in Loki
METADATA_SINCE_NS = 6 * 3600 * 10**9  # labels and series: the last six hours, as in Loki
DEFAULT_LIMIT = 100
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LokiParamError(LogjetError):
    """A request parameter Loki's API would refuse; the message names it."""


def text_error(message: str, status: int, retry_after: bool = False) -> web.Response:
    """An error as Loki writes one: plain text."""
    headers = {"Retry-After": str(RETRY_AFTER_S)} if retry_after else None
    return web.Response(text=message, status=status, content_type="text/plain", headers=headers)


async def request_params(request: web.Request) -> dict[str, str]:
    """URL parameters, and a POST's form fields (Loki takes both)."""
    params = dict(request.query)
    if request.method == "POST" and request.content_type in _FORMS:
        params.update({k: str(v) for k, v in (await request.post()).items()})
    return params


def parse_timestamp(value: str) -> int:
    """A Loki time parameter → ns; raises ValueError."""
    if "." in value and not any(c in value for c in "T:-"):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(value)
        whole = math.floor(seconds)
        return whole * 10**9 + round((seconds - whole) * 1000) * 10**6
    if value.isdigit():
        n = int(value)
        return n * 10**9 if len(value) <= 10 else n
    return rfc3339_ns(value, default_utc=False)


def time_param(params: Mapping[str, str], key: str, default_ns: int) -> int:
    value = params.get(key, "")
    if not value:
        return default_ns
    try:
        return parse_timestamp(value)
    except ValueError:
        raise LokiParamError(f"invalid {key}: cannot parse {value!r} as a timestamp") from None


def duration_param(params: Mapping[str, str], key: str, default_ns: int | None) -> int | None:
    """Seconds as a number, or a duration; positive."""
    value = params.get(key, "")
    if not value:
        return default_ns
    try:
        ns = round(float(value) * 1e9)
    except ValueError:
        try:
            ns = parse_duration_ns(value)
        except DurationError:
            raise LokiParamError(f"invalid {key}: cannot parse {value!r} as a duration") from None
    if ns <= 0:
        if key == "step":
            raise LokiParamError(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
            )
        raise LokiParamError(f"invalid {key}: must be positive")
    return ns


def time_range(params: Mapping[str, str], since_default_ns: int) -> tuple[int, int]:
    """(start, end) of a request: end defaults to now, start to end - since."""
    end = time_param(params, "end", time.time_ns())
    since = duration_param(params, "since", since_default_ns)
    assert since is not None
    start = time_param(params, "start", end - since)
    if end < start:
        raise LokiParamError("end timestamp must not be before or equal to start time")
    return start, end


def default_step_ns(start_ns: int, end_ns: int) -> int:
    """Loki's step when none is given: the range / 250, in whole seconds, at least 1 s."""
    return max(int((end_ns - start_ns) / 1e9 / 250), 1) * 10**9


def limit_param(params: Mapping[str, str], max_rows_limit: int) -> int:
    try:
        limit = requested_limit(params.get("limit") or None, max_rows_limit)
    except LimitParamError as exc:
        raise LokiParamError(str(exc)) from None
    return DEFAULT_LIMIT if limit is None else limit


def forward(params: Mapping[str, str]) -> bool:
    value = (params.get("direction") or "backward").lower()
    if value not in ("backward", "forward"):
        raise LokiParamError(f"invalid direction {value!r}: expected backward or forward")
    return value == "forward"


def query_param(params: Mapping[str, str], key: str = "query") -> str:
    value = params.get(key, "")
    if not value.strip():
        raise LokiParamError(f"missing {key} parameter")
    return value
