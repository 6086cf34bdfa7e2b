"""Timestamp kernels (RFC 3339, RFC 3164) and the batch conversion of local wall-clock times to UTC.

Kernels here are helpers that `syslog.py` inlines into its frame parser: they read a byte range of
a `uint8` array and return plain integers, never Python objects. Times are int64 nanoseconds since
1970-01-01T00:00:00Z; calendar arithmetic is proleptic Gregorian (year 0000 is legal in RFC 3339
and gives a negative time), using Howard Hinnant's days-from-civil algorithm, so no table and no
`datetime` is involved.

Parse results carry a status: `STAMP_OK`, `STAMP_SYNTAX` (the bytes are not a timestamp; the
position is meaningless) or `STAMP_RANGE` (the syntax is fine but the date or time is impossible,
e.g. month 13 or Feb 30; the position points after the token so the header parse can go on).

`TimeZone` is the Python side: a zone as a sorted table of UTC-offset changes, built once per zone
(fixed offsets like `+05:00`, `UTC`, or an IANA name via `zoneinfo`), that converts a whole array
of local naive times with one `numpy.searchsorted`. Local times that fall in a DST gap or overlap
resolve like Python's `fold=0`: the offset in force *before* the transition.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from native_kernels.jit import kernel

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND

STAMP_OK, STAMP_SYNTAX, STAMP_RANGE = 0, 1, 2

# The most fractional-second digits accepted: nanoseconds are the finest unit a row keeps.
MAX_FRACTION_DIGITS = 9

# Times are int64 ns, so a stamp must lie within about 1677-09-22 .. 2262-04-11; two days of margin
# leave room for a zone offset applied afterwards. RFC 3339 allows year 0000: such rows are
# flagged and get the receive time.
MAX_ABS_SECONDS = 9_223_372_036 - 2 * 86_400

# IANA zones are tabulated by probing zoneinfo over this UTC range (a day apart, then bisecting
# each change to the second). Outside it the first/last offset holds; syslog times far from the
# receive time only come from broken clocks.
_PROBE_FIRST_YEAR, _PROBE_LAST_YEAR = 1970, 2100
_PROBE_STEP_S = 86_400


# --- calendar ---------------------------------------------------------------------------------


@kernel
def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the proleptic Gregorian date y-m-d (any year, 0 and below too)."""
    y = np.int64(y) - (1 if m <= 2 else 0)
    era = y // 400  # numba's // on ints floors, like Python's
    yoe = y - era * 400
    mp = (m + 9) % 12  # March = 0
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@kernel
def civil_from_days(z):
    """(year, month, day) of the date `z` days after 1970-01-01; the inverse of days_from_civil."""
    z = np.int64(z) + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return y, m, d


@kernel
def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


@kernel
def days_in_month(y, m):
    if m == 2:
        return 29 if is_leap(y) else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


# --- small byte readers -----------------------------------------------------------------------
# Helpers take byte values, never the array: every call that passes a numba array costs an
# atomic reference-count increment and decrement, which made the per-frame call chain ~3x
# slower than the parsing itself. Only the stamp parsers below take `data`.


@kernel
def _digit(c):
    """Value of an ASCII digit, or -1."""
    c = np.int64(c)
    return c - 48 if 48 <= c <= 57 else -1


@kernel
def _two(a, b):
    """Value of two ASCII digits, or -1."""
    x = _digit(a)
    y = _digit(b)
    return x * 10 + y if x >= 0 and y >= 0 else -1


@kernel
def _month(a, b, c):
    """Month 1..12 of a three-letter English abbreviation (any case), or 0."""
    # int64 before shifting: uint8 << 16 would wrap where the kernel runs as plain Python
    key = (np.int64(a | 32) << 16) | (np.int64(b | 32) << 8) | np.int64(c | 32)
    names = (
        0x6A616E,
        0x666562,
        0x6D6172,
        0x617072,
        0x6D6179,
        0x6A756E,
        0x6A756C,
        0x617567,
        0x736570,
        0x6F6374,
        0x6E6F76,
        0x646563,
    )  # jan feb ... dec
    for k in range(12):
        if names[k] == key:
            return k + 1
    return 0


# --- RFC 3339 (RFC 5424 TIMESTAMP) ------------------------------------------------------------


@kernel
def _rfc3339(data, p, end, loose):
    """`YYYY-MM-DDThh:mm:ss[.f{1,9}]` then `Z` or `+hh:mm`/`-hh:mm` at p: (status, next_pos, ns,
    has_offset). `loose` also takes `t` and `z` and no offset at all (then ns is a local naive
    time and has_offset False); strict is RFC 5424's TIMESTAMP."""
    if p + 19 > end or (not loose and p + 20 > end):  # the shortest forms: 19 and 20 bytes
        return STAMP_SYNTAX, p, 0, False
    yh = _two(data[p], data[p + 1])
    yl = _two(data[p + 2], data[p + 3])
    month = _two(data[p + 5], data[p + 6])
    day = _two(data[p + 8], data[p + 9])
    hh = _two(data[p + 11], data[p + 12])
    mm = _two(data[p + 14], data[p + 15])
    ss = _two(data[p + 17], data[p + 18])
    t = data[p + 10]
    if (
        yh < 0
        or yl < 0
        or month < 0
        or day < 0
        or hh < 0
        or mm < 0
        or ss < 0
        or data[p + 4] != 45
        or data[p + 7] != 45
        or not (t == 84 or (loose and t == 116))
        or data[p + 13] != 58
        or data[p + 16] != 58
    ):  # - - T : :
        return STAMP_SYNTAX, p, 0, False
    year = yh * 100 + yl
    q = p + 19
    frac = 0
    if q < end and data[q] == 46:  # '.' + 1..9 digits
        q += 1
        n = 0
        while q < end and 48 <= data[q] <= 57:
            if n == MAX_FRACTION_DIGITS:
                return STAMP_SYNTAX, p, 0, False
            frac = frac * 10 + _digit(data[q])
            n += 1
            q += 1
        if n == 0:
            return STAMP_SYNTAX, p, 0, False
        for _ in range(MAX_FRACTION_DIGITS - n):
            frac *= 10
    c = data[q] if q < end else 0
    off_s = 0
    has_offset = True
    bad_offset = False
    if c == 90 or (loose and c == 122):  # 'Z' ('z')
        q += 1
    elif c == 43 or c == 45:  # '+' '-'
        if q + 6 > end or data[q + 3] != 58:
            return STAMP_SYNTAX, p, 0, False
        oh = _two(data[q + 1], data[q + 2])
        om = _two(data[q + 4], data[q + 5])
        if oh < 0 or om < 0:
            return STAMP_SYNTAX, p, 0, False
        bad_offset = oh > 23 or om > 59
        off_s = (oh * 3600 + om * 60) * (1 if c == 43 else -1)
        q += 6
    elif loose:
        has_offset = False  # local time
    else:
        return STAMP_SYNTAX, p, 0, False
    if (
        bad_offset
        or month < 1
        or month > 12
        or day < 1
        or day > days_in_month(year, month)
        or hh > 23
        or mm > 59
        or ss > 60
    ):
        return STAMP_RANGE, q, 0, has_offset
    secs = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss - off_s
    if secs > MAX_ABS_SECONDS or secs < -MAX_ABS_SECONDS:
        return STAMP_RANGE, q, 0, has_offset
    return STAMP_OK, q, secs * NS_PER_SECOND + frac, has_offset


@kernel
def parse_rfc3339(data, p, end):
    """Parse `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm)` at p (upper-case T and Z, as RFC 5424
    requires). Returns (status, next_pos, utc_ns); a leap second 60 rolls into the next minute."""
    st, q, ns, _ = _rfc3339(data, p, end, False)
    return st, q, ns


@kernel
def parse_rfc3339_loose(data, p, end):
    """RFC 3339 as RFC 3164 senders write it: `YYYY-MM-DD(T|t)hh:mm:ss[.f{1,9}]` with `Z`, `z`,
    `+hh:mm`, `-hh:mm` or no offset at all (RFC 3339 allows the lower case; ISO 8601 senders
    leave the offset out). Returns (status, next_pos, ns, has_offset): ns is UTC when
    has_offset, else a local naive time the caller puts in its zone."""
    return _rfc3339(data, p, end, True)


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of `a`. Wrappers pass every input array to their kernel this way:
    numba compiles one variant per writeable flag of each argument."""
    v = a.view()
    v.flags.writeable = False
    return v


@kernel
def _parse_rfc3339_spans(data, starts, ends, out_ns, out_ok):
    for i in range(starts.shape[0]):
        st, q, t = parse_rfc3339(data, starts[i], ends[i])
        out_ok[i] = st == STAMP_OK and q == ends[i]
        out_ns[i] = t


def parse_rfc3339_spans(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RFC 3339 stamps that fill `data[starts[i]:ends[i]]` exactly, one kernel call for all.
    Returns (utc_ns int64, ok bool); ns is 0 where ok is False."""
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    if starts.shape != ends.shape or (
        starts.size and (starts.min() < 0 or ends.max() > data.shape[0] or np.any(ends < starts))
    ):
        raise ValueError("spans must satisfy 0 <= start <= end <= len(data)")
    out_ns = np.empty(starts.shape[0], np.int64)
    out_ok = np.empty(starts.shape[0], np.bool_)
    _parse_rfc3339_spans(readonly(data), readonly(starts), readonly(ends), out_ns, out_ok)
    return out_ns, out_ok


# Bytes of an RFC 3339 stamp as `format_rfc3339_ns` writes it: 2006-01-02T15:04:05.000000000Z.
RFC3339_NS_BYTES = 30


@kernel
def _put_digits(out, i, pos, value, width):
    for k in range(width - 1, -1, -1):
        out[i, pos + k] = 48 + value % 10
        value //= 10


@kernel
def _format_rfc3339_ns(times, out):
    for i in range(times.shape[0]):
        t = times[i]
        days = t // 86_400_000_000_000  # floors: times before 1970 too
        ns = t - days * 86_400_000_000_000
        y, m, d = civil_from_days(days)
        secs = ns // 1_000_000_000
        _put_digits(out, i, 0, y, 4)
        _put_digits(out, i, 5, m, 2)
        _put_digits(out, i, 8, d, 2)
        _put_digits(out, i, 11, secs // 3600, 2)
        _put_digits(out, i, 14, secs // 60 % 60, 2)
        _put_digits(out, i, 17, secs % 60, 2)
        _put_digits(out, i, 20, ns % 1_000_000_000, 9)
        out[i, 4] = out[i, 7] = 45  # -
        out[i, 10] = 84  # T
        out[i, 13] = out[i, 16] = 58  # :
        out[i, 19] = 46  # .
        out[i, 29] = 90  # Z


def format_rfc3339_ns(times: np.ndarray) -> np.ndarray:
    """UTC nanosecond times as RFC 3339 stamps with nanoseconds, one row of RFC3339_NS_BYTES
    bytes per time (int64 ns are years 1677-2262, so the width is fixed)."""
    times = np.ascontiguousarray(times, dtype=np.int64).reshape(-1)
    out = np.empty((times.shape[0], RFC3339_NS_BYTES), np.uint8)
    _format_rfc3339_ns(readonly(times), out)
    return out


# --- RFC 3164 (BSD) TIMESTAMP -----------------------------------------------------------------


@kernel
def parse_bsd(data, p, end):
    """Parse an RFC 3164 stamp `Mmm dd hh:mm:ss` at p, in the forms seen in the wild (those
    rsyslog's ParseTIMESTAMP3164 takes): day padded with a space or not padded (`Jun  8`,
    `Jun 8`), a year before the time (`Mar 7 2008 19:06:53`) or before the month
    (`2008 Mar 7 19:06:53`, Brocade), not both, a fraction (`.295`, Cisco) and a trailing colon
    (Cisco, rsyslog). A year after the time is not read (rsyslog neither, by default: it is
    the hostname then).

    Returns (status, next_pos, month, day, year or -1, nanoseconds into the day). The day is only
    checked against 1..31 here (Feb 29 needs the year, which the caller may infer)."""
    year = -1
    m = p
    if p + 5 <= end and data[p + 4] == 32:  # `yyyy ` before the month (Brocade, rsyslog)
        yh = _two(data[p], data[p + 1])
        yl = _two(data[p + 2], data[p + 3])
        if yh >= 0 and yl >= 0:
            year = yh * 100 + yl
            m = p + 5
    if m + 14 > end or data[m + 3] != 32:  # `Mmm d hh:mm:ss` has 14 bytes at least
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    month = _month(data[m], data[m + 1], data[m + 2])
    if month == 0:
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    q = m + 4
    if data[q] == 32:  # space-padded day
        q += 1
    day = 0
    nd = 0
    while q < end and nd < 2 and 48 <= data[q] <= 57:
        day = day * 10 + _digit(data[q])
        q += 1
        nd += 1
    if nd == 0 or q >= end or data[q] != 32:
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    q += 1
    if year < 0 and q + 5 <= end and data[q + 4] == 32:  # `yyyy ` after the day, not both
        yh = _two(data[q], data[q + 1])
        yl = _two(data[q + 2], data[q + 3])
        if yh >= 0 and yl >= 0:
            year = yh * 100 + yl
            q += 5
    if q + 8 > end or data[q + 2] != 58 or data[q + 5] != 58:
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    hh = _two(data[q], data[q + 1])
    mm = _two(data[q + 3], data[q + 4])
    ss = _two(data[q + 6], data[q + 7])
    if hh < 0 or mm < 0 or ss < 0:
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    q += 8
    frac = 0
    if q < end and data[q] == 46:  # '.' + 1..9 digits
        q += 1
        n = 0
        while q < end and 48 <= data[q] <= 57:
            if n == MAX_FRACTION_DIGITS:
                return STAMP_SYNTAX, p, 0, 0, -1, 0
            frac = frac * 10 + _digit(data[q])
            n += 1
            q += 1
        if n == 0:
            return STAMP_SYNTAX, p, 0, 0, -1, 0
        for _ in range(MAX_FRACTION_DIGITS - n):
            frac *= 10
    if q < end and data[q] == 58:  # trailing ':'
        q += 1
    if q < end and data[q] != 32:
        return STAMP_SYNTAX, p, 0, 0, -1, 0
    tod = (hh * 3600 + mm * 60 + ss) * NS_PER_SECOND + frac
    if day < 1 or day > days_in_month(2000, month) or hh > 23 or mm > 59 or ss > 60:
        return STAMP_RANGE, q, month, day, year, tod
    if year >= 0 and day > days_in_month(year, month):
        return STAMP_RANGE, q, month, day, year, tod
    return STAMP_OK, q, month, day, year, tod


@kernel
def bsd_local_ns(month, day, year, tod, recv_local_ns, recv_year):
    """Local naive ns of a BSD stamp. Without a year, take the year (recv_year - 1, recv_year or
    recv_year + 1) whose date lies closest to the receive time in the same zone, so `Dec 31`
    received on Jan 1 is last year's and `Jan 1` received on Dec 31 is next year's.
    Returns (ok, local_ns); ok is False when no candidate year has that day (Feb 29) or the
    given year is outside the int64 ns range."""
    if year >= 0:
        days = days_from_civil(year, month, day)
        if abs(days) * 86400 > MAX_ABS_SECONDS - 86400:
            return False, np.int64(0)
        return True, days * NS_PER_DAY + tod
    best = np.int64(0)
    best_dist = np.int64(-1)
    for y in range(recv_year - 1, recv_year + 2):
        if day > days_in_month(y, month):
            continue
        t = days_from_civil(y, month, day) * NS_PER_DAY + tod
        dist = abs(t - recv_local_ns)
        if best_dist < 0 or dist < best_dist:
            best = t
            best_dist = dist
    return best_dist >= 0, best


# --- time zones (Python side, once per zone / once per batch) ---------------------------------

_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_UTC_NAMES = frozenset({"UTC", "Z", "GMT", "Etc/UTC", "Etc/GMT", "UCT", "Zulu", "Universal"})


class TimeZone:
    """A time zone as a table: `offsets[k]` (ns) holds from UTC instant `utc_bounds[k-1]` on
    (offsets[0] before the first change). Immutable; safe to share between threads; pickles
    by name. Build with `TimeZone.from_name`, which caches one table per name."""

    __slots__ = ("name", "_utc_bounds", "_local_bounds", "_offsets")

    def __init__(self, name: str, utc_bounds: np.ndarray, offsets: np.ndarray):
        if offsets.shape[0] != utc_bounds.shape[0] + 1:
            raise ValueError("offsets must have one more entry than utc_bounds")
        self.name = name
        self._utc_bounds = np.ascontiguousarray(utc_bounds, dtype=np.int64)
        self._offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        # A local time switches to the new offset at the later of the two wall-clock readings of
        # the change: times in a gap or an overlap keep the earlier offset (Python's fold=0).
        self._local_bounds = self._utc_bounds + np.maximum(self._offsets[:-1], self._offsets[1:])
        if np.any(np.diff(self._local_bounds) <= 0):
            raise ValueError(f"time zone {name!r}: offset changes too close together")

    @classmethod
    def from_name(cls, name: str) -> "TimeZone":
        """`UTC` (and aliases), a fixed offset `+05:00` / `-0330`, or an IANA name
        (`Europe/Berlin`). Raises ValueError for an unknown name."""
        return _zone_from_name(name)

    def __reduce__(self):
        return (_zone_from_name, (self.name,))

    def __repr__(self) -> str:
        return f"TimeZone({self.name!r})"

    @property
    def is_fixed(self) -> bool:
        return self._utc_bounds.shape[0] == 0

    def offset_at(self, utc_ns: int) -> int:
        """UTC offset (ns) in force at one UTC instant."""
        k = int(np.searchsorted(self._utc_bounds, np.int64(utc_ns), side="right"))
        return int(self._offsets[k])

    def to_local(self, utc_ns: np.ndarray) -> np.ndarray:
        """Local wall-clock ns (as if UTC) of an array of UTC instants."""
        utc_ns = np.asarray(utc_ns, dtype=np.int64)
        if self.is_fixed:
            return utc_ns + self._offsets[0]
        return utc_ns + self._offsets[np.searchsorted(self._utc_bounds, utc_ns, side="right")]

    def to_utc(self, local_ns: np.ndarray) -> np.ndarray:
        """UTC instants of an array of local naive times (ns, wall clock read as if UTC)."""
        local_ns = np.asarray(local_ns, dtype=np.int64)
        if self.is_fixed:
            return local_ns - self._offsets[0]
        return local_ns - self._offsets[np.searchsorted(self._local_bounds, local_ns, side="right")]


@functools.lru_cache(maxsize=64)
def _zone_from_name(name: str) -> TimeZone:
    empty = np.empty(0, np.int64)
    if name in _UTC_NAMES:
        return TimeZone(name, empty, np.zeros(1, np.int64))
    m = _FIXED_OFFSET.match(name)
    if m:
        sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3))
        if hh > 23 or mm > 59:
            raise ValueError(f"bad UTC offset {name!r}")
        off = (hh * 3600 + mm * 60) * (1 if sign == "+" else -1) * NS_PER_SECOND
        return TimeZone(name, empty, np.array([off], np.int64))
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    bounds, offsets = _probe_transitions(zone)
    return TimeZone(name, bounds, offsets)


def _probe_transitions(zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """The offset changes of `zone` in the probe range, exact to the second.

    zoneinfo does not expose its transitions, and reading TZif files would mean evaluating their
    POSIX TZ footers too; probing once per zone (~50k lookups) is simpler and cheap enough."""

    def offset(t: int) -> int:
        delta = datetime.fromtimestamp(t, zone).utcoffset()
        assert delta is not None, "a ZoneInfo gives every instant an offset"
        return int(delta.total_seconds())

    t0 = int(datetime(_PROBE_FIRST_YEAR, 1, 1, tzinfo=timezone.utc).timestamp())
    t1 = int(datetime(_PROBE_LAST_YEAR, 1, 1, tzinfo=timezone.utc).timestamp())
    bounds: list[int] = []
    prev_t, prev_off = t0, offset(t0)
    offsets = [prev_off * NS_PER_SECOND]
    for t in range(t0 + _PROBE_STEP_S, t1 + 1, _PROBE_STEP_S):
        off = offset(t)
        if off == prev_off:
            prev_t = t
            continue
        lo, hi = prev_t, t  # offset(lo) == prev_off != offset(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if offset(mid) == prev_off:
                lo = mid
            else:
                hi = mid
        bounds.append(hi * NS_PER_SECOND)
        offsets.append(off * NS_PER_SECOND)
        prev_t, prev_off = t, off
    return np.array(bounds, np.int64), np.array(offsets, np.int64)


def local_reference(recv_ns: int, tz: TimeZone) -> tuple[int, int]:
    """(receive time as local naive ns, its local calendar year): what the year inference of
    RFC 3164 stamps compares against. One call per batch."""
    local = int(recv_ns) + tz.offset_at(int(recv_ns))
    return local, int(civil_from_days(local // NS_PER_DAY)[0])
