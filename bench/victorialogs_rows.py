"""logjet's stored rows as VictoriaLogs JSON lines, so that the peer holds exactly the rows the
query bench queries in logjet (read back from the parts, after parsing and merges).

Each row becomes `{"_time": ns, "_msg": message, "host", "app", "procid", "severity",
"facility", <each key=value field>}`. What JSON lines cannot say the same way is counted, never
silently lost: a key with several values in one row keeps its first (`multi_valued`), a field
key that is also a column name or a VictoriaLogs special field is left out (`name_clash`), a
message that is not UTF-8 goes with U+FFFD in place of its bad bytes (`not_utf8`), and RFC 5424
structured data is not sent (`sd_rows`). The bench prints these counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import msgspec

from engine.store.live import live_parts
from engine.store.part_reader import Part
from engine.store.rows import FIELD_KEYS, KV_FIELD, Rows

COLUMNS = ("host", "app", "procid")
# Field keys not sent: they would overwrite a column or mean something else to VictoriaLogs.
RESERVED = frozenset({"_time", "_msg", "_stream", "_stream_id", "severity", "facility", *COLUMNS})
LINES_PER_REQUEST = 50_000


def _text(b: bytes, counts: Counter[str], what: str) -> str:
    try:
        return b.decode()
    except UnicodeDecodeError:
        counts[what] += 1
        return b.decode("utf-8", "replace")


def rows_json(rows: Rows, counts: Counter[str]) -> list[bytes]:
    """One JSON line per row of `rows` (see the module docstring); `counts` gets what differs."""
    encode = msgspec.json.Encoder().encode
    keys = [_text(k, counts, "not_utf8_key") for k in rows.dicts[FIELD_KEYS]]
    cols = {c: [_text(v, counts, "not_utf8_value") for v in rows.dicts[c]] for c in COLUMNS}
    ids = {c: rows.ids[c].tolist() for c in COLUMNS}
    times, sev, fac = rows.time.tolist(), rows.severity.tolist(), rows.facility.tolist()
    msg_off, msg = rows.msg_off.tolist(), rows.msg_data.tobytes()
    kv_ptr, kv_key, kv_kind = rows.kv_ptr.tolist(), rows.kv_key.tolist(), rows.kv_kind.tolist()
    kv_off, kv = rows.kv_off.tolist(), rows.kv_data.tobytes()
    sd_len = rows.sd_off[1:] - rows.sd_off[:-1]
    counts["sd_rows"] += int((sd_len > 0).sum())
    out = []
    for i in range(len(times)):
        obj: dict[str, object] = {
            "_time": str(times[i]),
            "_msg": _text(msg[msg_off[i] : msg_off[i + 1]], counts, "not_utf8"),
        }
        for c in COLUMNS:
            vid = ids[c][i]
            if vid:
                obj[c] = cols[c][vid - 1]
        obj["severity"] = str(sev[i])
        obj["facility"] = str(fac[i])
        for j in range(kv_ptr[i], kv_ptr[i + 1]):
            if kv_kind[j] != KV_FIELD:
                continue
            key = keys[kv_key[j] - 1]
            if key in RESERVED:
                counts["name_clash"] += 1
            elif key in obj:
                counts["multi_valued"] += 1
            else:
                obj[key] = _text(kv[kv_off[j] : kv_off[j + 1]], counts, "not_utf8_value")
        out.append(encode(obj))
    counts["rows"] += len(out)
    return out


def data_dir_json(data_dir: str, counts: Counter[str], per_request: int = LINES_PER_REQUEST) -> Iterator[list[bytes]]:
    """Every live row of `data_dir` as JSON lines, in lists of about `per_request` lines."""
    pending: list[bytes] = []
    for path in live_parts(data_dir):
        with Part(path) as part:
            for b in range(len(part.meta.blocks)):
                pending.extend(rows_json(part.read_block(b), counts))
                if len(pending) >= per_request:
                    yield pending
                    pending = []
    if pending:
        yield pending
