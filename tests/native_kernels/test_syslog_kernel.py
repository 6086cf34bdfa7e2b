"""native_kernels/syslog.py, sd.py and timestamps.py against the plain-Python reference
(naive_syslog.py) on generated input, plus the edges: a trailing CR, empty, garbage, huge, time
zones with DST, year inference across new year."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native_kernels.sd import extract_sd, scan_sd
from native_kernels.syslog import (
    FLAG_BEST_EFFORT,
    FLAG_BOM,
    FORMAT_JSON,
    FORMAT_PLAIN,
    FORMAT_RFC3164,
    FORMAT_RFC5424,
    NO_VALUE,
    SPAN_ROWS,
    TS_LOCAL,
    TS_NONE,
    TS_UTC,
    parse_frames,
)
from native_kernels.timestamps import TimeZone, civil_from_days, days_from_civil

try:
    from . import naive_syslog as naive
except ImportError:  # rootdir-style test layout without packages
    import naive_syslog as naive

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO / ".." / "shared" / "corpus" / "loghub"
ZONES = ["UTC", "+05:00", "-03:30", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
NS = 10**9


def batch(frames: list[bytes]):
    lens = np.array([len(f) for f in frames], np.int64)
    ends = np.cumsum(lens)
    starts = ends - lens
    buf = b"".join(frames)
    return buf, np.frombuffer(buf, np.uint8) if buf else np.zeros(0, np.uint8), starts, ends


def rows_of(cols, starts) -> list[dict]:
    """Kernel columns as naive-style dicts (spans relative to each frame)."""
    out = []
    for i in range(len(starts)):
        row = dict(
            format=int(cols.format[i]),
            severity=int(cols.severity[i]),
            facility=int(cols.facility[i]),
            version=int(cols.version[i]),
            time_ns=int(cols.time_ns[i]),
            ts_kind=int(cols.ts_kind[i]),
            flags=int(cols.flags[i]),
        )
        for f in naive.FIELDS:
            start, end = SPAN_ROWS[f]
            s, e = int(cols.spans[start, i]), int(cols.spans[end, i])
            row[f] = (-1, -1) if s < 0 else (s - int(starts[i]), e - int(starts[i]))
        out.append(row)
    return out


def assert_matches_naive(frames, recv_ns, tz_name):
    buf, data, starts, ends = batch(frames)
    cols = parse_frames(data, starts, ends, recv_ns, TimeZone.from_name(tz_name))
    got = rows_of(cols, starts)
    for i, frame in enumerate(frames):
        assert got[i] == naive.parse(frame, recv_ns, tz_name), frame
    return cols


# --- generated input ------------------------------------------------------------------------


def _b(s: str) -> bytes:
    return s.encode()


def mostly(valid, invalid):
    """`valid` about three times in four: hypothesis picks one_of branches about evenly."""
    return st.one_of(valid, valid, valid, invalid)


pri = mostly(
    st.integers(0, 191).map(lambda n: _b(f"<{n}>")),
    st.sampled_from([b"<192>", b"<01>", b"<000>", b"<1", b"<>", b"<a>", b"", b" <13>"]),
)
name_chars = st.sampled_from(list(b"abcXYZ09-._@:/"))
odd_chars = st.sampled_from(list(b'abcXYZ09-._@:/="]'))
token = mostly(
    st.one_of(st.just(b"-"), st.lists(name_chars, min_size=1, max_size=20).map(bytes)),
    st.one_of(
        st.binary(min_size=1, max_size=6).filter(lambda b: b" " not in b),
        st.lists(odd_chars, min_size=1, max_size=40).map(bytes),
        st.sampled_from(
            [b"a" * 48, b"a" * 49, b"p" * 128, b"p" * 129, b"m" * 32, b"m" * 33, b"h" * 255, b"h" * 256, b"host\nname"]
        ),
    ),
)


@st.composite
def rfc3339(draw):
    t = draw(st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(2300, 1, 1)))
    frac = draw(
        mostly(st.sampled_from(["", ".0", ".003", ".123456", ".123456789"]), st.sampled_from([".1234567891", "."]))
    )
    off = draw(
        mostly(
            st.sampled_from(["Z", "+00:00", "-07:00", "+23:59", "+05:30"]),
            st.sampled_from(["+24:00", "-00:61", "z", "", "+0100"]),
        )
    )
    s = t.strftime("%Y-%m-%dT%H:%M:%S") + frac + off
    if not draw(st.integers(0, 4)):  # impossible dates / times, odd forms
        s = draw(
            st.sampled_from(
                [
                    "2021-02-30T00:00:00Z",
                    "2021-13-01T00:00:00Z",
                    "2021-01-01T24:00:00Z",
                    "2016-12-31T23:59:60Z",
                    "0000-12-31T00:00:00Z",
                    "2003-09-31T22:14:15.003Z",
                    "2006-01-02t15:04:05Z",
                    "2003",
                    "-",
                ]
            )
        )
    return _b(s)


@st.composite
def bsd_stamp(draw):
    t = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)))
    mon = t.strftime("%b")
    mon = draw(mostly(st.sampled_from([mon, mon.upper(), mon.lower()]), st.just("Jax")))
    day = draw(
        mostly(
            st.sampled_from([f"{t.day:2d}", f"{t.day}", f"{t.day:02d}"]),
            st.sampled_from(["30", "31", "0", "32", "123"]),
        )
    )
    year = draw(mostly(st.sampled_from(["", "", f" {t.year}"]), st.sampled_from([" 0000", " 1500"])))
    lead = draw(mostly(st.sampled_from(["", "", f"{t.year} "]), st.sampled_from(["0000 ", "1500 ", "123 ", "12345 "])))
    if lead and year and draw(st.booleans()):
        year = ""  # both years are no stamp; mostly keep one
    frac = draw(mostly(st.sampled_from(["", "", ".295", ".123456789"]), st.sampled_from([".1234567891", "."])))
    colon = draw(st.sampled_from(["", ":"]))
    return _b(f"{lead}{mon} {day}{year} {t:%H:%M:%S}{frac}{colon}")


@st.composite
def iso_3164(draw):
    """RFC 3339 as 3164 senders write it: any case of t/z, offset optional."""
    t = draw(st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(2300, 1, 1)))
    sep = draw(mostly(st.sampled_from(["T", "t"]), st.sampled_from([" ", "_"])))
    frac = draw(mostly(st.sampled_from(["", ".0", ".605850", ".123456789"]), st.sampled_from([".1234567891", "."])))
    off = draw(
        mostly(
            st.sampled_from(["", "", "Z", "z", "+02:00", "-07:00"]),
            st.sampled_from(["+24:00", "+0200", "+02", "Zulu", ":"]),
        )
    )
    return _b(t.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + off)


good_value = st.lists(
    st.sampled_from([b"a", b" ", b'\\"', b"\\\\", b"\\]", b"[", b"\\x", "\u2318".encode(), b"\xff", b"="]), max_size=6
).map(b"".join)
bad_value = st.lists(st.sampled_from([b"a", b"]", b'"', b"\\"]), min_size=1, max_size=4).map(b"".join)
good_name = st.one_of(
    st.sampled_from([b"id", b"meta", b"x@1", b"origin", b"exampleSDID@32473"]),
    st.lists(name_chars, min_size=1, max_size=32).map(bytes),
)
bad_name = st.one_of(st.just(b""), st.just(b"n" * 33), st.lists(odd_chars, max_size=5).map(bytes))
sd_value = mostly(good_value, bad_value)
sd_name = mostly(good_name, bad_name)
sd_element = st.builds(
    lambda sid, params: b"[" + sid + b"".join(b" " + n + b'="' + v + b'"' for n, v in params) + b"]",
    sd_name,
    st.lists(st.tuples(sd_name, sd_value), max_size=3),
)
sd = mostly(
    st.one_of(st.just(b"-"), st.lists(sd_element, min_size=1, max_size=3).map(b"".join)),
    st.sampled_from([b"[", b"[id", b'[id a="1"', b"[]", b"[ ]", b"-x"]),
)
message = st.one_of(
    st.just(b""),
    st.binary(max_size=30),
    st.sampled_from(
        [
            b"\xef\xbb\xbfhello",
            b"\xef\xbb\xbf",
            b"x\ny",
            b" lead",
            b"  two",
            b"x\r",
            b"BOMtext",
            b"[12345.678] usb",
            b'[origin a="b"] start',
        ]
    ),
)


good_pri = st.integers(0, 191).map(lambda n: _b(f"<{n}>"))
good_token = st.one_of(st.just(b"-"), st.lists(name_chars, min_size=1, max_size=20).map(bytes))
good_sd = st.one_of(
    st.just(b"-"),
    st.lists(
        st.builds(
            lambda sid, params: b"[" + sid + b"".join(b" " + n + b'="' + v + b'"' for n, v in params) + b"]",
            good_name,
            st.lists(st.tuples(good_name, good_value), max_size=3),
        ),
        min_size=1,
        max_size=3,
    ).map(b"".join),
)


@st.composite
def good_rfc3339(draw):
    t = draw(st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1)))
    frac = draw(st.sampled_from(["", ".0", ".003", ".123456", ".123456789"]))
    return _b(t.strftime("%Y-%m-%dT%H:%M:%S") + frac + draw(st.sampled_from(["Z", "-07:00"])))


@st.composite
def frame_5424(draw):
    if draw(st.booleans()):  # a well-formed header, so every field and the SD get exercised
        parts = [
            draw(good_pri) + draw(st.sampled_from([b"1", b"2", b"999"])),
            draw(st.one_of(st.just(b"-"), good_rfc3339())),
        ]
        parts += [draw(good_token) for _ in range(4)] + [draw(good_sd)]
        return b" ".join(parts) + draw(st.one_of(st.just(b""), message.map(lambda m: b" " + m)))
    version = draw(mostly(st.sampled_from([b"1", b"2", b"999"]), st.sampled_from([b"1000", b"0", b""])))
    parts = [draw(pri) + version, draw(st.one_of(st.just(b"-"), rfc3339(), rfc3339()))]
    parts += [draw(token) for _ in range(4)] + [draw(sd)]
    keep = draw(mostly(st.just(len(parts)), st.integers(1, len(parts))))
    out = draw(mostly(st.just(b" "), st.just(b"  "))).join(parts[:keep])
    if draw(st.booleans()):
        out += b" " + draw(message)
    return out


@st.composite
def frame_3164(draw):
    good = draw(st.booleans())
    out = draw(good_pri if good else pri)
    out += draw(mostly(st.just(b""), st.sampled_from([b" ", b"  "])))
    out += (
        b""
        if good
        else draw(mostly(st.just(b""), st.sampled_from([b"643: ", b"105: 000104: ", b": ", b"*", b".", b"12: x"])))
    )
    if good:
        t = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)))
        out += draw(
            st.sampled_from(
                [
                    t.strftime("%b %e %H:%M:%S"),
                    t.strftime("%b %d %Y %H:%M:%S"),
                    t.strftime("%b %e %H:%M:%S.123:"),
                    t.strftime("%Y %b %e %H:%M:%S"),
                    t.strftime("%Y-%m-%dT%H:%M:%S"),
                    t.strftime("%Y-%m-%dT%H:%M:%S.%f+02:00"),
                ]
            )
        ).encode()
    else:
        out += draw(mostly(st.one_of(bsd_stamp(), bsd_stamp(), rfc3339(), iso_3164()), st.just(b"")))
    gap = st.sampled_from([b" ", b" ", b"  ", b"   "])
    host = draw(
        mostly(
            st.sampled_from(
                [
                    b"host",
                    b"10.1.2.3",
                    b"fe80::1",
                    b"X4711",
                    "h\u00f4te-1".encode(),
                    "\u00dcbergr\u00f6\u00dfe".encode(),
                    b"-",
                ]
            ),
            st.sampled_from([b"", b"su:", b"#001", b"a" + b"b" * 255, b" ", b"--", b"-:", b"\xff", b"h\xc3", b"."]),
        )
    )
    tag = draw(
        mostly(
            st.sampled_from(
                [
                    b"app:",
                    b"app",
                    b"sshd[123]:",
                    b"monit[2340:0]:",
                    "d\u00e9mon[7]:".encode(),
                    b"app[12a]",
                    b"-",
                    b"app[1]",
                ]
            ),
            st.sampled_from(
                [b"", b"a[1]b:", b"foo[bar baz", b":", b"app[]:", b"-:", b"[audit]", b"OX:rpd:", b'{"k":', b"a=b:"]
            ),
        )
    )
    sd_part = draw(st.one_of(st.just(b""), (good_sd if good else sd).map(lambda x: b" " + x)))
    return (
        out
        + draw(gap)
        + host
        + draw(gap)
        + tag
        + sd_part
        + draw(st.sampled_from([b"", b" ", b"  ", b"\r"]))
        + draw(message)
        + draw(st.sampled_from([b"", b"", b"\r"]))
    )


significant = st.lists(
    st.sampled_from(list(b'<>[]"\\= -:.0123456789TZtz*{}\t\r\nJanFebDc') + [0xEF, 0xBB, 0xBF]), max_size=60
).map(bytes)
frames_strategy = st.lists(
    st.one_of(
        frame_5424(),
        frame_3164(),
        st.binary(max_size=80),
        significant,
        st.builds(lambda a, b: a + b, st.sampled_from([b"{", b' {"a":1}', b"\t{"]), st.binary(max_size=10)),
    ),
    min_size=0,
    max_size=30,
)
recv_strategy = st.integers(int(datetime(1972, 1, 1).timestamp()), int(datetime(2098, 1, 1).timestamp())).map(
    lambda s: s * NS + 123
)


@pytest.mark.slow  # 250 generated batches through kernel and reference
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=frames_strategy, recv_ns=recv_strategy, tz_name=st.sampled_from(ZONES))
def test_kernel_matches_naive_on_generated_frames(frames, recv_ns, tz_name):
    assert_matches_naive(frames, recv_ns, tz_name)


@settings(max_examples=300, deadline=None)
@given(
    sd_text=st.lists(sd_element, min_size=1, max_size=4).map(b"".join), tail=st.sampled_from([b"", b" msg", b"x", b"["])
)
def test_sd_scan_and_extract_match_naive(sd_text, tail):
    text = sd_text + tail
    data = np.frombuffer(text, np.uint8)
    end = scan_sd(data, 0, len(text), False)
    m = naive._SD_ANY.match(text)
    if m is None or (m.end() < len(text) and text[m.end()] == ord("[")):
        assert end == -1
        return
    assert end == m.end()
    params = extract_sd(data, np.array([0]), np.array([end]))
    got: dict = {}
    for k in range(len(params.row)):
        el = got.setdefault(text[params.id_s[k] : params.id_e[k]].decode("utf-8", "replace"), {})
        if params.name_s[k] >= 0:
            v = bytes(params.values[params.value_offsets[k] : params.value_offsets[k + 1]])
            el[text[params.name_s[k] : params.name_e[k]].decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    assert got == naive.sd_dict(text[:end])


def test_extract_sd_layout():
    text = b'[a x="1" y="q\\"\\\\\\]\\n"][empty][b z=""]'
    data = np.frombuffer(b"junk" + text, np.uint8)
    p = extract_sd(data, np.array([-1, 4]), np.array([-1, 4 + len(text)]))
    assert p.row.tolist() == [1, 1, 1, 1]
    names = [None if s < 0 else bytes(data[s:e]) for s, e in zip(p.name_s, p.name_e)]
    assert names == [b"x", b"y", None, b"z"]
    ids = [bytes(data[s:e]) for s, e in zip(p.id_s, p.id_e)]
    assert ids == [b"a", b"a", b"empty", b"b"]
    vals = [bytes(p.values[a:b]) for a, b in zip(p.value_offsets[:-1], p.value_offsets[1:])]
    assert vals == [b"1", b'q"\\]\\n', b"", b""]
    # Spans that are not SD, or point outside the buffer, give nothing and never raise.
    q = extract_sd(data, np.array([0, 3, 10**6]), np.array([4, 2, 10**6 + 5]))
    assert len(q.row) == 0 and q.value_offsets.tolist() == [0]


# --- edges ----------------------------------------------------------------------------------


def test_empty_batch_and_empty_frames():
    tz = TimeZone.from_name("UTC")
    cols = parse_frames(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), 5, tz)
    assert all(len(a) == 0 for a in cols[:-1]) and cols.spans.shape == (12, 0)
    assert_matches_naive([b"", b"\r", b" ", b"<", b"<1", b"<1>", b"<1>1", b"<1>1 ", b"{"], 1_600_000_000 * NS, "UTC")


def test_a_trailing_cr_stays_in_the_message():
    """The framers remove one LF, CRLF or NUL trailer; the parser removes nothing more. A CR
    that ends a frame was sent as part of the message and stays there: every field is as
    without it, and the message span is one byte longer."""
    lines = [
        b"<13>Oct 11 22:14:15 host app[1]: m",
        b"<13>1 2003-10-11T22:14:15Z h a - - - m",
        b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure",
        b"plain",
        b"<13>Oct 11 22:14:15 host  app[1]:  m",
    ]
    tz = TimeZone.from_name("UTC")
    _, d1, s1, e1 = batch(lines)
    buf, d2, s2, e2 = batch([ln + b"\r" for ln in lines])
    a = parse_frames(d1, s1, e1, 0, tz)
    b = parse_frames(d2, s2, e2, 0, tz)
    for f in ("format", "severity", "time_ns", "flags"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    rel_a = np.where(a.spans >= 0, a.spans - s1, -1)
    rel_b = np.where(b.spans >= 0, b.spans - s2, -1)
    assert np.array_equal(rel_a[:11], rel_b[:11])
    assert np.array_equal(rel_a[11] + 1, rel_b[11])
    assert all(buf[b.msg_s[i] : b.msg_e[i]].endswith(b"m\r") for i in (0, 1, 4))


@pytest.mark.slow  # the whole corpus
@pytest.mark.skipif(not LOGHUB.exists(), reason="loghub corpus not found")
def test_loghub_files_match_naive():
    """All ten loghub files (CRLF endings, last line without newline), split on LF only."""
    frames = []
    for path in sorted(LOGHUB.glob("*_2k.log")):
        frames += path.read_bytes().split(b"\n")
    cols = assert_matches_naive(frames, 1_600_000_000 * NS, "Europe/Berlin")
    linux = (LOGHUB / "Linux_2k.log").read_bytes().split(b"\n")[0]
    i = frames.index(linux)
    assert cols.format[i] == FORMAT_RFC3164 and cols.severity[i] == NO_VALUE
    buf = b"".join(frames)
    assert buf[cols.app_s[i] : cols.app_e[i]] == b"sshd(pam_unix)"
    assert buf[cols.procid_s[i] : cols.procid_e[i]] == b"19939"


def test_garbage_never_raises_and_spans_stay_inside():
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 2_000_000, dtype=np.uint8)
    data[rng.integers(0, len(data), 40_000)] = ord("<")
    cuts = np.sort(rng.integers(0, len(data), 20_000))
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [len(data)]])
    cols = parse_frames(data, starts, ends, 1_600_000_000 * NS, TimeZone.from_name("UTC"))
    for start, end in SPAN_ROWS.values():
        s, e = cols.spans[start], cols.spans[end]
        has = s >= 0
        assert np.all(e[~has] == -1)
        assert np.all((starts[has] <= s[has]) & (s[has] <= e[has]) & (e[has] <= ends[has]))
    assert set(np.unique(cols.format)) <= {0, 1, 2, 3}


def test_huge_frame_and_many_frames():
    tz = TimeZone.from_name("UTC")
    body = b"x" * (10 * 2**20)
    frames = [b"<13>1 2003-10-11T22:14:15Z h a - - - " + body, body, b"<13>" + body[:1000]]
    buf, data, starts, ends = batch(frames)
    cols = parse_frames(data, starts, ends, 0, tz)
    assert cols.msg_e[0] - cols.msg_s[0] == len(body)
    assert cols.format.tolist() == [FORMAT_RFC5424, FORMAT_PLAIN, FORMAT_RFC3164]
    many = [b"<13>Oct 11 22:14:15 h a: %d" % i for i in range(100_000)]
    buf, data, starts, ends = batch(many)
    cols = parse_frames(data, starts, ends, 1_600_000_000 * NS, tz)
    assert np.all(cols.format == FORMAT_RFC3164)
    assert buf[cols.msg_s[-1] : cols.msg_e[-1]] == b"99999"


@pytest.mark.slow  # a second Python, kernels interpreted
def test_kernels_as_plain_python_agree_and_stay_in_bounds():
    """With NUMBA_DISABLE_JIT=1 the kernel bodies run as Python, where an index past the end of
    the buffer raises. Every prefix of some tricky frames sits at the very end of its own buffer;
    the columns must equal the compiled kernels'."""
    frames = [
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application"] \xef\xbb\xbfAn app',
        b"<189>105: 000104: Mar 12 07:12:10.295: %SYS-5-CONFIG_I: Configured",
        b'<46>Jan  5 15:33:03 host rsyslogd:  [origin software="rsyslogd"] start',
        b"<13>Feb 29 2020 12:00:00 h monit[2340:0]: x",
        b"Oct 11 22:14:15 h su: x",
        b"<34>2020-10-11T22:14:15.00Z m app[323]: a",
        b'<1>1 - - - - - [a x="\\"]',
        b"<13>2024 Oct 11 22:14:15  h\xc3\xb4te  app[1]:  m\r",
        b"Jun  3 12:08:33 - - x",
        b'<13>2024-10-11t22:14:15.5 host  {"k": 1}',
    ]
    prefixes = [f[:k] for f in frames for k in range(len(f) + 1)]
    script = (
        "import sys, numpy as np\n"
        "from native_kernels.syslog import parse_frames\n"
        "from native_kernels.timestamps import TimeZone\n"
        "tz = TimeZone.from_name('Europe/Berlin')\n"
        "frames = eval(sys.stdin.read())\n"
        "out = []\n"
        "for f in frames:\n"
        "    d = np.frombuffer(f, np.uint8).copy()\n"
        "    c = parse_frames(d, np.array([0]), np.array([len(f)]), 1600000000 * 10**9, tz)\n"
        "    out.append([int(x) for a in c[:7] for x in a] + c.spans[:, 0].tolist())\n"
        "print(repr(out))\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run(
        [sys.executable, "-c", script],
        input=repr(prefixes),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    python_rows = eval(res.stdout)
    tz = TimeZone.from_name("Europe/Berlin")
    for f, py in zip(prefixes, python_rows):
        d = np.frombuffer(f, np.uint8).copy()
        c = parse_frames(d, np.array([0]), np.array([len(f)]), 1600000000 * NS, tz)
        assert [int(x) for a in c[:7] for x in a] + c.spans[:, 0].tolist() == py, f


def test_wrapper_validates_inputs():
    tz = TimeZone.from_name("UTC")
    d = np.frombuffer(b"abc", np.uint8)
    with pytest.raises(ValueError):
        parse_frames(d, np.array([0]), np.array([4]), 0, tz)
    with pytest.raises(ValueError):
        parse_frames(d, np.array([2]), np.array([1]), 0, tz)
    with pytest.raises(ValueError):
        parse_frames(d.astype(np.int16), np.array([0]), np.array([1]), 0, tz)
    with pytest.raises(ValueError):
        parse_frames(d, np.array([0]), np.array([1]), 0, "UTC")


# --- headers, one rule each -----------------------------------------------------------------


def one(frame: bytes, recv_ns=1_600_000_000 * NS, tz="UTC"):
    buf, data, starts, ends = batch([frame])
    cols = parse_frames(data, starts, ends, recv_ns, TimeZone.from_name(tz))
    spans = {f: (cols.spans[SPAN_ROWS[f][0], 0], cols.spans[SPAN_ROWS[f][1], 0]) for f in naive.FIELDS}
    fields = {f: None if s < 0 else buf[s:e] for f, (s, e) in spans.items()}
    return cols, fields


def test_rfc5424_nanoseconds_offsets_bom():
    cols, f = one(b"<165>1 2003-08-24T05:14:15.123456789-07:00 h a 1 m - \xef\xbb\xbfhi")
    assert cols.time_ns[0] == 1061727255 * NS + 123456789 and cols.ts_kind[0] == TS_UTC
    assert cols.flags[0] == FLAG_BOM and f["msg"] == b"hi"
    assert (cols.severity[0], cols.facility[0], cols.version[0]) == (5, 20, 1)


def test_rfc5424_impossible_date_keeps_header():
    cols, f = one(b"<13>1 2021-02-30T00:00:00Z host app - - - msg", recv_ns=77)
    assert cols.flags[0] & FLAG_BEST_EFFORT and cols.ts_kind[0] == TS_NONE
    assert cols.time_ns[0] == 77 and f["host"] == b"host" and f["msg"] == b"msg"


def test_rfc5424_bad_sd_goes_to_message():
    cols, f = one(b'<13>1 - h a - - [id x="1] tail')
    assert cols.flags[0] & FLAG_BEST_EFFORT and f["sd"] is None
    assert f["msg"] == b'[id x="1] tail' and f["app"] == b"a"


def test_json_and_plain_detection():
    cols, f = one(b'  {"msg": 1}')
    assert cols.format[0] == FORMAT_JSON and f["msg"] == b'  {"msg": 1}'
    cols, f = one(b"hello world")
    assert cols.format[0] == FORMAT_PLAIN and f["msg"] == b"hello world"
    assert cols.severity[0] == NO_VALUE and cols.ts_kind[0] == TS_NONE


def test_rfc3164_tags_and_kernel_brackets():
    _, f = one(b"<13>Oct 11 22:14:15 combo sshd(pam_unix)[19939]: authentication failure")
    assert (f["host"], f["app"], f["procid"], f["msg"]) == (
        b"combo",
        b"sshd(pam_unix)",
        b"19939",
        b"authentication failure",
    )
    _, f = one(b"<4>Jan 26 05:59:54 ubnt kernel: [12345.678] usb 1-1: new device")
    assert f["sd"] is None and f["msg"] == b"[12345.678] usb 1-1: new device"


# --- time zones and year inference ----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Apia"],
)
def test_time_zone_table_matches_zoneinfo(name):
    tz = TimeZone.from_name(name)
    zone = ZoneInfo(name)
    rng = np.random.default_rng(1)
    local = rng.integers(int(datetime(1971, 1, 1).timestamp()), int(datetime(2099, 1, 1).timestamp()), 3000)
    # around every change too: gaps and overlaps
    edges = tz._utc_bounds // NS
    local = np.concatenate([local, edges - 1800, edges, edges + 1800, edges + 3 * 3600])
    local = local[(local > 86400 * 366) & (local < 4_000_000_000)]
    got = tz.to_utc(local * NS)
    for t, g in zip(local.tolist(), got.tolist()):
        naive_dt = datetime(1970, 1, 1) + timedelta(seconds=t)
        exp = int(naive_dt.replace(tzinfo=zone).timestamp()) * NS  # fold=0
        assert g == exp, (name, naive_dt)
    utc = local * NS
    back = tz.to_local(utc)
    for t, g in zip(local.tolist(), back.tolist()):
        aware = datetime.fromtimestamp(t, zone)
        assert g == (t + int(aware.utcoffset().total_seconds())) * NS


def test_dst_gap_and_overlap_in_parsed_rows():
    recv = int(datetime(2021, 6, 1, tzinfo=timezone.utc).timestamp()) * NS
    cols, _ = one(b"<13>Mar 28 02:30:00 host app: gap", recv, "Europe/Berlin")
    assert (
        cols.time_ns[0] == int(datetime(2021, 3, 28, 1, 30, tzinfo=timezone.utc).timestamp()) * NS
    )  # fold=0: the offset before (+01:00)
    cols, _ = one(b"<13>Oct 31 02:30:00 host app: overlap", recv, "Europe/Berlin")
    assert (
        cols.time_ns[0] == int(datetime(2021, 10, 31, 0, 30, tzinfo=timezone.utc).timestamp()) * NS
    )  # first occurrence (+02:00)
    assert cols.ts_kind[0] == TS_LOCAL


@pytest.mark.parametrize(
    "stamp,recv,tz,expect",
    [
        ("Dec 31 23:59:59", "2021-01-01T00:00:10+00:00", "UTC", "2020-12-31T23:59:59+00:00"),
        ("Jan  1 00:00:01", "2020-12-31T23:59:00+00:00", "UTC", "2021-01-01T00:00:01+00:00"),
        # received 00:30 on Jan 1 in Berlin (23:30 UTC the day before): still last year's Dec 31
        ("Dec 31 23:59:59", "2020-12-31T23:30:00+00:00", "Europe/Berlin", "2020-12-31T22:59:59+00:00"),
        ("Jan  1 00:00:01", "2020-12-31T22:59:00+00:00", "Europe/Berlin", "2020-12-31T23:00:01+00:00"),
        ("Feb 29 12:00:00", "2021-03-01T00:00:00+00:00", "UTC", "2020-02-29T12:00:00+00:00"),
        ("Jun 15 12:00:00", "2021-06-15T12:00:00+00:00", "+05:00", "2021-06-15T07:00:00+00:00"),
    ],
)
def test_year_inference(stamp, recv, tz, expect):
    recv_ns = int(datetime.fromisoformat(recv).timestamp()) * NS
    cols, _ = one(f"<13>{stamp} host app: m".encode(), recv_ns, tz)
    assert cols.ts_kind[0] == TS_LOCAL
    assert cols.time_ns[0] == int(datetime.fromisoformat(expect).timestamp()) * NS


def test_feb_29_without_a_leap_year_nearby_is_best_effort():
    recv_ns = int(datetime(2022, 6, 1, tzinfo=timezone.utc).timestamp()) * NS
    cols, f = one(b"<13>Feb 29 12:00:00 host app: m", recv_ns)
    assert cols.flags[0] & FLAG_BEST_EFFORT and cols.ts_kind[0] == TS_NONE
    assert cols.time_ns[0] == recv_ns and f["host"] == b"host"


def test_time_zone_names():
    assert TimeZone.from_name("UTC").to_utc(np.array([5]))[0] == 5
    assert TimeZone.from_name("+05:00").to_utc(np.array([5 * 3600 * NS]))[0] == 0
    assert TimeZone.from_name("-0330").to_utc(np.array([0]))[0] == 12600 * NS
    assert TimeZone.from_name("Europe/Berlin") is TimeZone.from_name("Europe/Berlin")
    assert pickle.loads(pickle.dumps(TimeZone.from_name("Asia/Kolkata"))).name == "Asia/Kolkata"
    for bad in ("Mars/Olympus", "+25:00", "", "../etc/passwd"):
        with pytest.raises(ValueError):
            TimeZone.from_name(bad)


@settings(max_examples=300, deadline=None)
@given(st.integers(-800_000, 800_000))
def test_civil_days_round_trip(z):
    y, m, d = civil_from_days(z)
    assert days_from_civil(y, m, d) == z
    assert naive.days(y, m, d) == z if 1 <= y <= 9999 else True
