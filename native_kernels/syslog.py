"""Syslog header parsing of a whole batch of frames into columns: RFC 5424, RFC 3164, JSON
detection and plain text, one kernel call per batch.

Detection, per frame (leading SP/TAB/CR/LF are skipped for it, never removed from the data):

    "<" PRI ">" VERSION SP ...   RFC 5424 (VERSION = 1-3 digits, no leading zero)
    "<" PRI ">" anything else    RFC 3164
    a 3164 or RFC 3339 stamp     RFC 3164 without PRI (severity/facility NO_VALUE)
    "{"                          JSON: only detected here; engine/parse/json_rows.py decodes it
    anything else                plain: the message is the whole frame

PRI is 1-3 digits, value 0..191; "<002>" or spaces before "<" are read but flagged best effort;
a PRI over 191 is no PRI.

RFC 5424 follows the RFC's ABNF (field lengths 255/48/128/32 of PRINTUSASCII, T and Z upper case,
1-9 fraction digits, offsets up to 23:59). The first field that breaks it ends the header: the row
keeps what parsed before it, gets FLAG_BEST_EFFORT, and its message is the rest of the frame from
that field on, so no byte is lost. An impossible date (month 13, Feb 30) is flagged too but the
header parse goes on; the row's time is then the receive time. A UTF-8 BOM opening MSG is dropped
from the span and FLAG_BOM set. A frame ending right after the SD has no message (-1); MSG may
hold any octets, newlines included.

RFC 3164 is parsed the way rsyslog's pmrfc3164 does, the de-facto standard for it, with
syslog-loose's (Vector's) leniency where rsyslog loses fields:
  * any run of SP after PRI is skipped; Cisco IOS `NNN: ` counters (up to two) and `*`/`.` clock
    markers before the stamp are skipped;
  * the stamp is BSD or RFC 3339 (see timestamps.parse_bsd / parse_rfc3339_loose). BSD:
    `Mmm dd hh:mm:ss`, day space-padded or not, month in any case, a year before the time
    (`Mmm dd yyyy hh:mm:ss`) or before the month (`yyyy Mmm dd hh:mm:ss`), not both, a
    fraction and a trailing colon; a year after the time is the hostname (rsyslog's default).
    RFC 3339: `T`/`t`, `Z`/`z`, `+hh:mm` or no offset, 1-9 fraction digits; a space instead of
    `T` is no stamp. A stamp must end at SP or the frame's end. A BSD stamp or an RFC 3339 one
    without offset is local time (TS_LOCAL), a BSD one without year gets the year nearest
    the receive time;
  * HOSTNAME follows the stamp (and only a stamp) after any run of SP: a word of
    [A-Za-z0-9._:-] and UTF-8 bytes (>= 0x80) that ends in a letter, digit or UTF-8 byte and
    is followed by SP or the end (so `su:` or `sshd[1]:` are tags, not hosts; `@`, `/`, `#` are
    no host characters, as in rsyslog by default). A lone `-` there is "no hostname";
  * TAG is the next word up to SP or ":" (after any run of SP), taken even without a colon
    (rsyslog's rule): `app[pid]:` gives app and procid (procid is anything but SP and "]", may
    be empty = none), `app:`, `app[pid]` and `app` give app; a lone `-` is "no app". After
    two or more SP behind the hostname a word is a tag only when it is a program name (letters,
    digits, UTF-8, `._-/()%#@`) marked by a ":" or a `[pid]`; else it opens the message (what
    rsyslog and syslog-loose make of `host  word ...`);
  * the message is what follows the tag and its ":" minus one SP, the separator (rsyslog's
    remove.msgFirstSpace, go-syslog, VictoriaLogs); further SP are the sender's and stay, so
    logger's or rsyslog's `tag:  text` keeps its " text" (syslog-loose drops them all);
  * a message opening (after any SP) with valid SD elements that all hold params (rsyslog's
    `[origin software="rsyslogd" ...]`) gives them as the row's SD, as syslog-loose does; the
    message starts after them and one SP.
A line without PRI is RFC 3164 only when it starts (after SP/TAB/CR/LF) with a stamp as above,
else plain text: `134681 node-246 ...` or `2015-10-18 18:01:47,978 INFO ...` stay plain.
Nothing is removed from a frame: the framers take its one LF, CRLF or NUL trailer, and a CR
that still ends it was sent as part of the message and stays there.

Contract: `parse_frames` reads `data` and never keeps it; the caller owns every array returned
(spans point into the caller's `data`). The kernel runs without the GIL, so several threads may
parse different batches at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from native_kernels.jit import kernel
from native_kernels.sd import extract_sd, scan_sd
from native_kernels.timestamps import (
    STAMP_OK,
    STAMP_RANGE,
    STAMP_SYNTAX,
    TimeZone,
    bsd_local_ns,
    local_reference,
    parse_bsd,
    parse_rfc3339,
    parse_rfc3339_loose,
    parse_rfc3339_spans,
    readonly,
)

# The `format` column: a code per row, and the codes' names (stored by code, shown by name).
FORMAT_PLAIN, FORMAT_RFC5424, FORMAT_RFC3164, FORMAT_JSON = 0, 1, 2, 3
FORMATS = ("plain", "rfc5424", "rfc3164", "json")
NO_VALUE = 255  # severity/facility when there is no PRI (also what every u8 column uses for none)
TS_NONE, TS_UTC, TS_LOCAL = 0, 1, 2
FLAG_BEST_EFFORT = 1  # the header did not fully parse; fields are what could be recovered
FLAG_BOM = 2  # a UTF-8 BOM at the start of MSG was removed from the message span

# RFC 5424 6: PRIVAL 0..191 (facility 23 at most), field length limits.
MAX_PRI = 191
MAX_HOSTNAME, MAX_APPNAME, MAX_PROCID, MAX_MSGID = 255, 48, 128, 32

# Rows of the (12, n) span matrix `SyslogColumns.spans`: a start row and an end row per field.
HOST_START, HOST_END = 0, 1
APP_START, APP_END = 2, 3
PROCID_START, PROCID_END = 4, 5
MSGID_START, MSGID_END = 6, 7
SD_START, SD_END = 8, 9
MSG_START, MSG_END = 10, 11
SPAN_MATRIX_ROWS = 12
# `_parse_5424` and `_parse_3164` return (time, ts kind, flags, then the span matrix's rows).
_RESULT_SPANS = 3
# Each field's (start row, end row), in row order.
SPAN_ROWS = {
    "host": (HOST_START, HOST_END),
    "app": (APP_START, APP_END),
    "procid": (PROCID_START, PROCID_END),
    "msgid": (MSGID_START, MSGID_END),
    "sd": (SD_START, SD_END),
    "msg": (MSG_START, MSG_END),
}

_SP, _TAB, _LF, _CR = 32, 9, 10, 13
_LT, _GT, _LBRACE, _LBR, _RBR, _COLON, _DASH = 60, 62, 123, 91, 93, 58, 45


class SyslogColumns(NamedTuple):
    """Column arrays of one parsed batch, all of length n. Spans are absolute offsets into the
    batch's `data`; (-1, -1) means no value, start == end >= 0 an empty string. `time_ns` is UTC
    (the receive time where ts_kind is TS_NONE). `version` is the RFC 5424 VERSION (0 for other
    formats). The span arrays are rows of one (12, n) matrix, `spans`."""

    format: np.ndarray
    severity: np.ndarray
    facility: np.ndarray
    version: np.ndarray
    time_ns: np.ndarray
    ts_kind: np.ndarray
    flags: np.ndarray
    host_s: np.ndarray
    host_e: np.ndarray
    app_s: np.ndarray
    app_e: np.ndarray
    procid_s: np.ndarray
    procid_e: np.ndarray
    msgid_s: np.ndarray
    msgid_e: np.ndarray
    sd_s: np.ndarray
    sd_e: np.ndarray
    msg_s: np.ndarray
    msg_e: np.ndarray
    spans: np.ndarray


# --- kernels ----------------------------------------------------------------------------------


@kernel
def _is_space(c):
    return c == _SP or c == _TAB or c == _LF or c == _CR


@kernel
def _is_alnum(c):
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


@kernel
def _is_host_char(c):
    # . _ - : and the bytes of UTF-8 sequences (non-ASCII host names)
    return _is_alnum(c) or c == 46 or c == 95 or c == _DASH or c == _COLON or c >= 0x80


@kernel
def _is_tag_char(c):
    # a program name: letters, digits, UTF-8, . _ - / ( ) % # @
    return (
        _is_alnum(c)
        or c >= 0x80
        or c == 46
        or c == 95
        or c == _DASH
        or c == 47
        or c == 40
        or c == 41
        or c == 37
        or c == 35
        or c == 64
    )


@kernel
def _parse_5424(data, p, e):
    """Fields after `<PRI>VERSION SP` at p; e is the frame end.

    Returns (time_ns, ts_kind, flags, host_s, host_e, app_s, app_e, procid_s, procid_e,
    msgid_s, msgid_e, sd_s, sd_e, msg_s, msg_e). Results come back as a tuple rather than being
    written into the column arrays: passing arrays to a kernel costs an atomic reference-count
    pair per array and call, more than the parsing of a header."""
    t = np.int64(0)
    kind = TS_NONE
    fl = 0
    hs = he = as_ = ae = ps = pe = ids = ide = sds = sde = ms = me = np.int64(-1)
    while True:  # one pass; `break` ends the header early
        # TIMESTAMP
        if p >= e:
            fl |= FLAG_BEST_EFFORT
            break
        if data[p] == _DASH and (p + 1 == e or data[p + 1] == _SP):
            p += 1
        else:
            st, q, ts = parse_rfc3339(data, p, e)
            if st == STAMP_SYNTAX:
                fl |= FLAG_BEST_EFFORT
                ms, me = p, e
                break
            if st == STAMP_OK:
                t = ts
                kind = TS_UTC
            else:
                fl |= FLAG_BEST_EFFORT
            p = q
        # HOSTNAME APP-NAME PROCID MSGID
        ok = True
        for f in range(4):
            if p >= e:
                fl |= FLAG_BEST_EFFORT
                ok = False
                break
            if data[p] != _SP:
                fl |= FLAG_BEST_EFFORT
                ms, me = p, e
                ok = False
                break
            p += 1
            limit = MAX_HOSTNAME if f == 0 else MAX_APPNAME if f == 1 else MAX_PROCID if f == 2 else MAX_MSGID
            q = p  # the field runs to the next SP; 1..limit bytes of PRINTUSASCII
            while q < e and 33 <= data[q] <= 126:
                q += 1
            if q == p or q - p > limit or (q < e and data[q] != _SP):
                fl |= FLAG_BEST_EFFORT
                ms, me = p, e
                ok = False
                break
            if not (q == p + 1 and data[p] == _DASH):
                if f == 0:
                    hs, he = p, q
                elif f == 1:
                    as_, ae = p, q
                elif f == 2:
                    ps, pe = p, q
                else:
                    ids, ide = p, q
            p = q
        if not ok:
            break
        # STRUCTURED-DATA
        if p + 1 >= e or data[p] != _SP:
            fl |= FLAG_BEST_EFFORT
            if p < e:
                ms, me = p, e
            break
        p += 1
        if data[p] == _DASH and (p + 1 == e or data[p + 1] == _SP):
            p += 1
        else:
            q = scan_sd(data, p, e, False)
            if q < 0 or (q < e and data[q] != _SP):
                fl |= FLAG_BEST_EFFORT
                ms, me = p, e
                break
            sds, sde = p, q
            p = q
        # MSG
        if p + 1 >= e:
            break
        p += 1
        if p + 3 <= e and data[p] == 0xEF and data[p + 1] == 0xBB and data[p + 2] == 0xBF:
            p += 3
            fl |= FLAG_BOM
        ms, me = p, e
        break
    return t, kind, fl, hs, he, as_, ae, ps, pe, ids, ide, sds, sde, ms, me


@kernel
def _stamp_3164(data, p, end, recv_local_ns, recv_year):
    """A BSD or RFC 3339 stamp at p: (status, next_pos, time_ns, ts_kind). An RFC 3339 stamp
    without offset is local time, like a BSD one."""
    st, q, month, day, year, tod = parse_bsd(data, p, end)
    if st == STAMP_OK:
        ok, local = bsd_local_ns(month, day, year, tod, recv_local_ns, recv_year)
        if ok:
            return STAMP_OK, q, local, TS_LOCAL
        return STAMP_RANGE, q, np.int64(0), TS_NONE
    if st == STAMP_RANGE:
        return STAMP_RANGE, q, np.int64(0), TS_NONE
    st, q, t, has_offset = parse_rfc3339_loose(data, p, end)
    if st == STAMP_SYNTAX:
        return STAMP_SYNTAX, p, np.int64(0), TS_NONE
    if q < end and data[q] != _SP:
        return STAMP_SYNTAX, p, np.int64(0), TS_NONE
    if st == STAMP_OK:
        return STAMP_OK, q, t, TS_UTC if has_offset else TS_LOCAL
    return STAMP_RANGE, q, np.int64(0), TS_NONE


@kernel
def _parse_3164(data, p, e, had_pri, recv_local_ns, recv_year):
    """Everything after `<PRI>` (or from the stamp of a PRI-less line) at p. Returns the same
    tuple as _parse_5424 (msgid is always -1)."""
    t = np.int64(0)
    kind = TS_NONE
    fl = 0
    hs = he = as_ = ae = ps = pe = sds = sde = np.int64(-1)
    while p < e and data[p] == _SP:
        p += 1
    st, q, ts, k = _stamp_3164(data, p, e, recv_local_ns, recv_year)
    if st == STAMP_SYNTAX and had_pri:
        # Cisco IOS: `NNN: ` message counter and `NNNNNN: ` sequence number, then `*` or `.`
        # when the clock is not NTP-synchronised.
        r = p
        for c in range(2):
            d = r
            while d < e and 48 <= data[d] <= 57:
                d += 1
            if d + 1 < e and data[d] == _COLON and data[d + 1] == _SP and (d > r or c == 0):
                r = d + 2
            else:
                break
        if r < e and (data[r] == 42 or data[r] == 46):
            r += 1
        if r != p:
            st, q, ts, k = _stamp_3164(data, r, e, recv_local_ns, recv_year)
    run = 0  # length of the SP run between a HOSTNAME and the TAG
    if st != STAMP_SYNTAX:
        if st == STAMP_OK:
            t = ts
            kind = k
        else:
            fl |= FLAG_BEST_EFFORT
        p = q
        while p < e and data[p] == _SP:
            p += 1
        # HOSTNAME (or "-", no hostname)
        h = p
        while h < e and h - p <= 255 and _is_host_char(data[h]):
            h += 1
        if (
            h > p
            and h - p <= 255
            and (h == e or data[h] == _SP)
            and (_is_alnum(data[h - 1]) or data[h - 1] >= 0x80 or (h == p + 1 and data[p] == _DASH))
        ):
            if not (h == p + 1 and data[p] == _DASH):
                hs, he = p, h
            p = h
            while p < e and data[p] == _SP:
                p += 1
            run = p - h
    # TAG: `name`, `name:`, `name[pid]`, `name[pid]:`
    t0 = p
    while p < e and data[p] != _SP and data[p] != _COLON and data[p] != _LBR:
        p += 1
    name_e = p
    pid_s = pid_e = np.int64(-1)
    marked = False  # ends in ":" or has a [pid]
    if p < e and data[p] == _LBR:
        r = p + 1
        while r < e and data[r] != _RBR and data[r] != _SP:
            r += 1
        if r < e and data[r] == _RBR and (r + 1 == e or data[r + 1] == _COLON or data[r + 1] == _SP):
            if r > p + 1:
                pid_s, pid_e = p + 1, r
            p = r + 1
            marked = True
        else:
            while p < e and data[p] != _SP and data[p] != _COLON:
                p += 1
            name_e = p
    if p < e and data[p] == _COLON:
        marked = True
    if run >= 2 and marked:
        # after a run of SP behind the hostname, only a program name makes a tag
        marked = name_e > t0
        for r in range(t0, name_e):
            if not _is_tag_char(data[r]):
                marked = False
                break
    if run >= 2 and not marked:
        # two or more SP after the hostname and no `name:` / `name[pid]`: no tag, the word
        # opens the message
        p = t0
    else:
        if name_e > t0 and not (name_e == t0 + 1 and data[t0] == _DASH):
            as_, ae = t0, name_e
        ps, pe = pid_s, pid_e
        if p < e and data[p] == _COLON:
            p += 1
    # MSG: one SP after the tag is the separator, more belong to the message; SD elements
    # opening it (rsyslog's origin element, after any SP) are taken out
    if p < e and data[p] == _SP:
        p += 1
    s = p
    while s < e and data[s] == _SP:
        s += 1
    if s < e and data[s] == _LBR:
        r = scan_sd(data, s, e, True)
        if r >= 0 and (r == e or data[r] == _SP):
            sds, sde = s, r
            p = r + 1 if r < e else r
    return t, kind, fl, hs, he, as_, ae, ps, pe, np.int64(-1), np.int64(-1), sds, sde, p, e


@kernel
def _parse_batch(
    data, starts, ends, recv_ns, recv_local_ns, recv_year, fmt, sev, fac, ver, time_ns, ts_kind, flags, spans
):
    for i in range(starts.shape[0]):
        s = starts[i]
        e = ends[i]
        f = FORMAT_PLAIN
        pri: int | np.int64 = -1
        v: int | np.int64 = 0
        fl = 0
        q = s
        while q < e and _is_space(data[q]):
            q += 1
        c = data[q] if q < e else 0
        if c == _LT:
            # PRI: "<" 1-3 digits ">", value <= 191
            r = q + 1
            pri = 0
            while r < e and r - q <= 4 and 48 <= data[r] <= 57:
                pri = pri * 10 + (np.int64(data[r]) - 48)
                r += 1
            if r > q + 1 and r - q <= 4 and r < e and data[r] == _GT and pri <= MAX_PRI:
                if q != s or (r - q > 2 and data[q + 1] == 48):  # leading space or zero
                    fl = FLAG_BEST_EFFORT
                r += 1
                # VERSION SP: 1-3 digits, no leading zero
                r2 = r
                while r2 < e and r2 - r <= 3 and 48 <= data[r2] <= 57:
                    v = v * 10 + (np.int64(data[r2]) - 48)
                    r2 += 1
                if r2 > r and r2 - r <= 3 and data[r] != 48 and r2 < e and data[r2] == _SP:
                    f = FORMAT_RFC5424
                    res = _parse_5424(data, r2 + 1, e)
                else:
                    f = FORMAT_RFC3164
                    v = 0
                    res = _parse_3164(data, r, e, True, recv_local_ns, recv_year)
            else:
                pri = -1
        elif c == _LBRACE:
            f = FORMAT_JSON
        elif q < e and _stamp_3164(data, q, e, recv_local_ns, recv_year)[0] != STAMP_SYNTAX:
            f = FORMAT_RFC3164
            res = _parse_3164(data, q, e, False, recv_local_ns, recv_year)

        fmt[i] = f
        ver[i] = v
        if pri >= 0:
            sev[i] = pri & 7
            fac[i] = pri >> 3
        else:
            sev[i] = NO_VALUE
            fac[i] = NO_VALUE
        if f == FORMAT_RFC5424 or f == FORMAT_RFC3164:
            t, kind = res[0], res[1]
            time_ns[i] = t if kind != TS_NONE else recv_ns
            ts_kind[i] = kind
            flags[i] = fl | res[2]
            for k in range(SPAN_MATRIX_ROWS):
                spans[k, i] = res[_RESULT_SPANS + k]
        else:
            time_ns[i] = recv_ns
            ts_kind[i] = TS_NONE
            flags[i] = 0
            for k in range(MSG_START):  # every field before the message: none
                spans[k, i] = -1
            spans[MSG_START, i] = s
            spans[MSG_END, i] = e


# --- public wrapper ---------------------------------------------------------------------------


def parse_frames(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, recv_ns: int, tz: TimeZone) -> SyslogColumns:
    """Parse frames `data[starts[i]:ends[i]]` (without their LF/CRLF/NUL trailer) of one batch.

    `recv_ns`: the batch's receive time, ns since epoch UTC; rows without a usable stamp get it.
    `tz`: the zone of RFC 3164 stamps without an offset. Raises ValueError for inputs that are
    not arrays of the right kind or spans outside `data`; never for the bytes themselves."""
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError("data must be a 1-D uint8 numpy array")
    data = np.ascontiguousarray(data)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    if starts.ndim != 1 or starts.shape != ends.shape:
        raise ValueError("starts and ends must be 1-D arrays of the same length")
    n = starts.shape[0]
    if n and (starts.min() < 0 or ends.max() > data.shape[0] or np.any(ends < starts)):
        raise ValueError("frame spans must satisfy 0 <= start <= end <= len(data)")
    if not isinstance(tz, TimeZone):
        raise ValueError("tz must be a native_kernels.timestamps.TimeZone")
    recv_ns = int(recv_ns)
    recv_local_ns, recv_year = local_reference(recv_ns, tz)
    # Inputs go in as read-only views: numba compiles one variant per writeable flag, and one
    # signature keeps warm_up() complete and the cache small.
    data, starts, ends = readonly(data), readonly(starts), readonly(ends)

    fmt = np.empty(n, np.uint8)
    sev = np.empty(n, np.uint8)
    fac = np.empty(n, np.uint8)
    ver = np.empty(n, np.uint16)
    time_ns = np.empty(n, np.int64)
    ts_kind = np.empty(n, np.uint8)
    flags = np.empty(n, np.uint8)
    spans = np.empty((SPAN_MATRIX_ROWS, n), np.int64)
    if n:
        _parse_batch(
            data,
            starts,
            ends,
            np.int64(recv_ns),
            np.int64(recv_local_ns),
            np.int64(recv_year),
            fmt,
            sev,
            fac,
            ver,
            time_ns,
            ts_kind,
            flags,
            spans,
        )
        local = ts_kind == TS_LOCAL
        if local.any():
            time_ns[local] = tz.to_utc(time_ns[local])
    return SyslogColumns._make([fmt, sev, fac, ver, time_ns, ts_kind, flags, *spans, spans])


def warm_up() -> None:
    """Compile (or load from cache) the kernels of syslog.py, sd.py and timestamps.py: call
    before a worker reports ready."""
    line = b'<13>1 2003-10-11T22:14:15.003Z h a - - [x y="1"] m\n<13>Oct 11 22:14:15 h a: m'
    data = np.frombuffer(line, np.uint8)
    cut = line.index(b"\n")
    cols = parse_frames(data, np.array([0, cut + 1]), np.array([cut, len(line)]), 0, TimeZone.from_name("UTC"))
    extract_sd(data, cols.sd_s, cols.sd_e)
    parse_rfc3339_spans(data, np.array([6]), np.array([30]))
