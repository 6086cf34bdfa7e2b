"""Plain-Python reference of native_kernels/syslog.py and sd.py: the same rules, one frame at a
time, written with regular expressions, `datetime` and `zoneinfo` instead of byte loops and tables.

It is slow and obvious on purpose; the kernels are tested against it (each kernel has a naive
reference). Spans are returned relative to the frame, (-1, -1) for no value.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

PLAIN, RFC5424, RFC3164, JSON = 0, 1, 2, 3
TS_NONE, TS_UTC, TS_LOCAL = 0, 1, 2
BEST_EFFORT, BOM = 1, 2
FIELDS = ("host", "app", "procid", "msgid", "sd", "msg")
NONE = (-1, -1)

# Same int64-ns window as the kernels (their constant, restated to keep this file independent).
MAX_ABS_SECONDS = 9_223_372_036 - 2 * 86_400

_NAME = rb"[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}"
_VALUE = rb'"(?:\\[\s\S]|[^"\\\]])*"'
_PARAM = rb" " + _NAME + rb"=" + _VALUE
_SD_ANY = re.compile(rb"(?:\[" + _NAME + rb"(?:" + _PARAM + rb")*\])+")
_SD_PARAMS = re.compile(rb"(?:\[" + _NAME + rb"(?:" + _PARAM + rb")+\])+")
_RFC3339 = re.compile(rb"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")
# RFC 3339 as RFC 3164 senders write it: t/z in either case, offset optional (local time then).
_ISO = re.compile(rb"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?")
_BSD = re.compile(
    rb"(?:(\d{4}) )?([A-Za-z]{3}) ( ?)(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    rb"(:?)"
)
_MONTHS = [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"]
_HOST = re.compile(rb"[A-Za-z0-9._:\x80-\xff-]*")
_TAG_NAME = re.compile(rb"[A-Za-z0-9\x80-\xff._/()%#@-]+")


def days(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 (year 0 handled by shifting 400 Gregorian years)."""
    if y < 1:
        return date(y + 400, m, d).toordinal() - 719163 - 146097
    return date(y, m, d).toordinal() - 719163


def month_days(y: int, m: int) -> int:
    if y < 1:
        y += 400
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return (nxt - date(y, m, 1)).days


def zone(name: str):
    if name in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(off if m.group(1) == "+" else -off)
    return ZoneInfo(name)


def local_to_utc_ns(local_ns: int, tz) -> int:
    """fold=0 reading of a wall-clock time, via datetime. Like the kernels' zone tables, which
    cover 1970..2100, times outside that range take the offset in force at its edge."""
    secs, frac = divmod(local_ns, 10**9)
    naive = datetime(1970, 1, 1) + timedelta(seconds=secs)
    naive = min(max(naive, datetime(1970, 1, 2)), datetime(2099, 12, 31))
    aware = naive.replace(tzinfo=tz)
    off = aware.utcoffset()
    return local_ns - int(off.total_seconds()) * 10**9


def utc_to_local_ns(utc_ns: int, tz) -> int:
    secs = utc_ns // 10**9
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=secs)
    return utc_ns + int(dt.astimezone(tz).utcoffset().total_seconds()) * 10**9


def _frac_ns(digits: bytes | None) -> int | None:
    if digits is None:
        return 0
    if len(digits) > 9:
        return None
    return int(digits.ljust(9, b"0"))


def rfc3339(frame: bytes, p: int):
    """(status, end, utc_ns) with status 'ok' / 'syntax' / 'range'."""
    m = _RFC3339.match(frame, p)
    if not m:
        return "syntax", p, 0
    frac = _frac_ns(m.group(7))
    if frac is None:
        return "syntax", p, 0
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    off = m.group(8)
    off_s = 0
    bad_off = False
    if off != b"Z":
        oh, om = int(off[1:3]), int(off[4:6])
        bad_off = oh > 23 or om > 59
        off_s = (oh * 3600 + om * 60) * (1 if off[:1] == b"+" else -1)
    if bad_off or not 1 <= mo <= 12 or not 1 <= d <= month_days(y, mo) or hh > 23 or mi > 59 or ss > 60:
        return "range", m.end(), 0
    secs = days(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off_s
    if abs(secs) > MAX_ABS_SECONDS:
        return "range", m.end(), 0
    return "ok", m.end(), secs * 10**9 + frac


def rfc3339_loose(frame: bytes, p: int):
    """(status, end, ns, has_offset): ns is UTC with an offset, local naive without."""
    m = _ISO.match(frame, p)
    if not m:
        return "syntax", p, 0, False
    frac = _frac_ns(m.group(7))
    if frac is None:
        return "syntax", p, 0, False
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    off = m.group(8)
    off_s = 0
    bad_off = False
    if off is not None and off not in (b"Z", b"z"):
        oh, om = int(off[1:3]), int(off[4:6])
        bad_off = oh > 23 or om > 59
        off_s = (oh * 3600 + om * 60) * (1 if off[:1] == b"+" else -1)
    if bad_off or not 1 <= mo <= 12 or not 1 <= d <= month_days(y, mo) or hh > 23 or mi > 59 or ss > 60:
        return "range", m.end(), 0, off is not None
    secs = days(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off_s
    if abs(secs) > MAX_ABS_SECONDS:
        return "range", m.end(), 0, off is not None
    return "ok", m.end(), secs * 10**9 + frac, off is not None


def bsd(frame: bytes, p: int, recv_local_ns: int, recv_year: int):
    """(status, end, local_ns)."""
    m = _BSD.match(frame, p)
    if not m or m.group(2).lower() not in _MONTHS or (m.group(1) and m.group(5)):
        return "syntax", p, 0
    end = m.end()
    if end < len(frame) and frame[end] != 0x20:
        return "syntax", p, 0
    frac = _frac_ns(m.group(9))
    if frac is None:
        return "syntax", p, 0
    mo = _MONTHS.index(m.group(2).lower()) + 1
    d = int(m.group(4))
    year = m.group(1) or m.group(5)
    year = int(year) if year is not None else None
    hh, mi, ss = int(m.group(6)), int(m.group(7)), int(m.group(8))
    tod = (hh * 3600 + mi * 60 + ss) * 10**9 + frac
    if not 1 <= d <= month_days(2000, mo) or hh > 23 or mi > 59 or ss > 60:
        return "range", end, 0
    if year is not None:
        if d > month_days(year, mo):
            return "range", end, 0
        if abs(days(year, mo, d)) * 86400 > MAX_ABS_SECONDS - 86400:
            return "range", end, 0
        return "ok", end, days(year, mo, d) * 86400 * 10**9 + tod
    best = None
    for y in (recv_year - 1, recv_year, recv_year + 1):
        if d > month_days(y, mo):
            continue
        t = days(y, mo, d) * 86400 * 10**9 + tod
        if best is None or abs(t - recv_local_ns) < abs(best - recv_local_ns):
            best = t
    if best is None:
        return "range", end, 0
    return "ok", end, best


def stamp_3164(frame: bytes, p: int, recv_local_ns: int, recv_year: int):
    """(status, end, time_ns, ts_kind)."""
    st, end, t = bsd(frame, p, recv_local_ns, recv_year)
    if st == "ok":
        return st, end, t, TS_LOCAL
    if st == "range":
        return st, end, 0, TS_NONE
    st, end, t, has_offset = rfc3339_loose(frame, p)
    if st == "syntax" or (end < len(frame) and frame[end] != 0x20):
        return "syntax", p, 0, TS_NONE
    if st != "ok":
        return st, end, 0, TS_NONE
    return st, end, t, (TS_UTC if has_offset else TS_LOCAL)


def parse(frame: bytes, recv_ns: int, tz_name: str = "UTC") -> dict:
    """One frame → the row the kernel must produce (spans relative to the frame)."""
    tz = zone(tz_name)
    recv_local = utc_to_local_ns(recv_ns, tz)
    recv_year = (datetime(1970, 1, 1) + timedelta(seconds=recv_local // 10**9)).year
    e = len(frame)
    row = dict(
        format=PLAIN,
        severity=255,
        facility=255,
        version=0,
        time_ns=recv_ns,
        ts_kind=TS_NONE,
        flags=0,
        **{f: NONE for f in FIELDS},
    )
    row["msg"] = (0, e)
    stripped = frame.lstrip(b" \t\r\n")
    q = e - len(stripped)
    if not stripped:
        return row
    m = re.match(rb"<(\d{1,3})>", stripped)
    if m and int(m.group(1)) <= 191:
        pri = int(m.group(1))
        row["severity"], row["facility"] = pri % 8, pri // 8
        if q != 0 or (len(m.group(1)) > 1 and m.group(1)[:1] == b"0"):
            row["flags"] |= BEST_EFFORT
        row["msg"] = NONE
        r = q + m.end()
        v = re.match(rb"([1-9]\d{0,2}) ", frame[r:])
        if v:
            row["format"], row["version"] = RFC5424, int(v.group(1))
            _parse_5424(frame, r + v.end(), row)
        else:
            row["format"] = RFC3164
            _parse_3164(frame, r, True, recv_local, recv_year, row)
    elif stripped[:1] == b"{":
        row["format"] = JSON
    elif stamp_3164(frame, q, recv_local, recv_year)[0] != "syntax":
        row["format"] = RFC3164
        _parse_3164(frame, q, False, recv_local, recv_year, row)
    if row["ts_kind"] == TS_LOCAL:
        row["time_ns"] = local_to_utc_ns(row["time_ns"], tz)
    return row


def _rest(row: dict, p: int, e: int) -> None:
    row["flags"] |= BEST_EFFORT
    row["msg"] = (p, e)


def _parse_5424(frame: bytes, p: int, row: dict) -> None:
    e = len(frame)
    if p >= e:
        row["flags"] |= BEST_EFFORT
        return
    if frame[p : p + 2] in (b"- ", b"-") and (p + 1 == e or frame[p + 1] == 0x20):
        p += 1
    else:
        st, q, t = rfc3339(frame, p)
        if st == "syntax":
            return _rest(row, p, e)
        if st == "ok":
            row["time_ns"], row["ts_kind"] = t, TS_UTC
        else:
            row["flags"] |= BEST_EFFORT
        p = q
    for name, limit in (("host", 255), ("app", 48), ("procid", 128), ("msgid", 32)):
        if p >= e:
            row["flags"] |= BEST_EFFORT
            return
        if frame[p] != 0x20:
            return _rest(row, p, e)
        p += 1
        q = frame.find(b" ", p)
        q = e if q < 0 else q
        token = frame[p:q]
        if not token or len(token) > limit or any(c < 33 or c > 126 for c in token):
            return _rest(row, p, e)
        if token != b"-":
            row[name] = (p, q)
        p = q
    if p + 1 >= e or frame[p] != 0x20:
        row["flags"] |= BEST_EFFORT
        if p < e:
            row["msg"] = (p, e)
        return
    p += 1
    if frame[p] == 0x2D and (p + 1 == e or frame[p + 1] == 0x20):
        p += 1
    else:
        m = _SD_ANY.match(frame, p)
        if not m or (m.end() < e and frame[m.end()] != 0x20):
            return _rest(row, p, e)
        row["sd"] = (p, m.end())
        p = m.end()
    if p + 1 >= e:
        return
    p += 1
    if frame[p : p + 3] == b"\xef\xbb\xbf":
        p += 3
        row["flags"] |= BOM
    row["msg"] = (p, e)


def _parse_3164(frame: bytes, p: int, had_pri: bool, recv_local: int, recv_year: int, row: dict) -> None:
    e = len(frame)
    while p < e and frame[p] == 0x20:
        p += 1
    st, q, t, kind = stamp_3164(frame, p, recv_local, recv_year)
    if st == "syntax" and had_pri:
        m = re.match(rb"(?:\d*: )(?:\d+: )?", frame[p:])
        r = p + (m.end() if m else 0)
        if frame[r : r + 1] in (b"*", b"."):
            r += 1
        if r != p:
            st, q, t, kind = stamp_3164(frame, r, recv_local, recv_year)
    run = 0  # SPs between a hostname (or "-") and the tag
    if st != "syntax":
        if st == "ok":
            row["time_ns"], row["ts_kind"] = t, kind
        else:
            row["flags"] |= BEST_EFFORT
        p = _skip_sp(frame, q)
        h = _HOST.match(frame, p).end()
        word = frame[p:h]
        if (
            1 <= len(word) <= 255
            and (h == e or frame[h] == 0x20)
            and (word[-1:].isalnum() or word[-1] >= 0x80 or word == b"-")
        ):
            if word != b"-":
                row["host"] = (p, h)
            p = _skip_sp(frame, h)
            run = p - h
    t0 = p
    name_e = p + re.match(rb"[^ :\[]*", frame[p:]).end()
    p = name_e
    pid = NONE
    marked = False
    if frame[p : p + 1] == b"[":
        m = re.match(rb"\[([^\] ]*)\](?=\Z|[: ])", frame[p:])
        if m:
            if m.group(1):
                pid = (p + 1, p + 1 + len(m.group(1)))
            p += m.end()
            marked = True
        else:
            p += re.match(rb"[^ :]*", frame[p:]).end()
            name_e = p
    marked = marked or frame[p : p + 1] == b":"
    if run >= 2 and marked:  # behind a run of SP only a program name makes a tag
        marked = _TAG_NAME.fullmatch(frame, t0, name_e) is not None
    if run >= 2 and not marked:
        p = t0
    else:
        if name_e > t0 and frame[t0:name_e] != b"-":
            row["app"] = (t0, name_e)
        row["procid"] = pid
        if frame[p : p + 1] == b":":
            p += 1
    if frame[p : p + 1] == b" ":
        p += 1
    s = _skip_sp(frame, p)
    m = _SD_PARAMS.match(frame, s)
    if m and (m.end() == e or frame[m.end()] == 0x20):
        row["sd"] = (s, m.end())
        p = m.end() + 1 if m.end() < e else m.end()
    row["msg"] = (p, e)


def _skip_sp(frame: bytes, p: int) -> int:
    return len(frame) - len(frame[p:].lstrip(b" "))


_ESC = re.compile(rb'\\(["\\\]])')


def sd_dict(sd: bytes) -> dict:
    """{sd-id: {name: value}} of an SD text the parser accepted, values unescaped."""
    out: dict = {}
    for el in re.finditer(rb"\[(" + _NAME + rb")((?:" + _PARAM + rb")*)\]", sd):
        params = out.setdefault(el.group(1).decode("utf-8", "replace"), {})
        for pm in re.finditer(rb" (" + _NAME + rb")=(" + _VALUE + rb")", el.group(2)):
            value = _ESC.sub(rb"\1", pm.group(2)[1:-1])
            params[pm.group(1).decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out
