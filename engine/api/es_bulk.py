"""An Elasticsearch `_bulk` body read into the documents to store and the answer for each action,
in Elasticsearch's shape (`took`, `errors`, `items`), so that shippers retry only what failed.

The body is NDJSON: an action line (`{"index": {...}}`, `{"create": {...}}`, `{"update": ...}`,
`{"delete": ...}`), then, for all but `delete`, a document line. Lines are cut by the framing
kernel; action lines are decoded once per distinct text (shippers repeat the same one), and each
document is checked for the shape of an object (`{...}`) with numpy; the parsers decode it. Per
item: `index` and `create` are stored (201); a document that is not an object is a 400
`document_parsing_exception`; `update` and `delete` are refused with 400 (logs are not edited).
A line that is not an action where one must be refuses the whole body (BulkError, a 400).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
import numpy as np

from engine.errors import LogjetError
from native_kernels.framing import TRUNCATED, split_lf, trim_spans

STORED_ACTIONS = ("index", "create")
REFUSED_ACTIONS = ("update", "delete")
# The index answered when neither the URL nor the action names one.
DEFAULT_INDEX = "logjet"
# Distinct action lines remembered per body: shippers repeat one, or give each a fresh `_id`,
# which the cache would not help; past it lines are decoded without being remembered.
MAX_CACHED_ACTIONS = 1024

_action_decoder = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.Encoder().encode


class BulkError(LogjetError, ValueError):
    """The body cannot be read as a bulk request; `line` (1-based) is where, 0 if nowhere."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


class Action(NamedTuple):
    """One decoded action line."""

    kind: str
    index_name: str
    doc_id: str | None


class BulkPlan(NamedTuple):
    """What to do with a body: the document lines to store (spans into the body, with framing
    flags), and the answer of each action as its JSON text, in order."""

    starts: np.ndarray
    ends: np.ndarray
    flags: np.ndarray
    items: list[bytes]
    errors: int  # items refused
    actions: int


def _line(arr: np.ndarray, pos: int) -> int:
    """The 1-based line of byte `pos`, counting every line of the body as Elasticsearch does
    (only errors need it, so it is counted then)."""
    return int(np.count_nonzero(arr[:pos] == 10)) + 1


def _action_at(text: bytes, arr: np.ndarray, pos: int, url_index: str) -> Action:
    """The action line `text` that starts at byte `pos`; raises BulkError naming its line."""
    try:
        return _action(text, url_index)
    except _Malformed as exc:
        line = _line(arr, pos)
        raise BulkError(f"Malformed action/metadata line [{line}]{exc}", line) from None


class _Malformed(LogjetError, ValueError):
    """What is wrong with an action line, to follow "Malformed action/metadata line [N]"."""


def _action(text: bytes, url_index: str) -> Action:
    try:
        obj = _action_decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise _Malformed(f": {exc}") from None
    if len(obj) != 1:
        raise _Malformed(f", expected one action but found {len(obj)}")
    ((kind, meta),) = obj.items()
    if kind not in STORED_ACTIONS and kind not in REFUSED_ACTIONS:
        raise _Malformed(f", expected field [create], [delete], [index] or [update] but found [{kind}]")
    if type(meta) is not dict:
        raise _Malformed(f", expected an object after [{kind}]")
    index = meta.get("_index")
    doc_id = meta.get("_id")
    return Action(
        kind,
        index if type(index) is str and index else url_index,
        None if doc_id is None else doc_id if type(doc_id) is str else _encode(doc_id).decode(),
    )


def response_filter(filter_path: str) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """What a `filter_path` keeps of the answer: (top-level keys, fields of each item), None for
    all. The forms shippers send (Filebeat, Logstash: `errors,items.*.error,items.*.status`) are
    understood; any other form keeps the whole answer (more than asked for is harmless)."""
    top: set[str] = set()
    fields: set[str] | None = set()
    for pattern in (p.strip() for p in filter_path.split(",")):
        if pattern in ("took", "errors"):
            top.add(pattern)
        elif pattern in ("items", "items.*", "items.*.*"):
            top.add("items")
            fields = None
        elif pattern.startswith("items.*.") and pattern[8:] and not set(pattern[8:]) & set(".*"):
            top.add("items")
            if fields is not None:
                fields.add(pattern[8:])
        else:
            return None, None
    return frozenset(top), None if fields is None else frozenset(fields)


def _item(
    action: Action, status: int, error: tuple[str, str] | None = None, keep: frozenset[str] | None = None
) -> bytes:
    body: dict[str, Any] = {"_index": action.index_name}
    if action.doc_id is not None:
        body["_id"] = action.doc_id
    if error is None:
        body.update(_version=1, result="created", _shards={"total": 1, "successful": 1, "failed": 0})
    else:
        body["error"] = {"type": error[0], "reason": error[1]}
    body["status"] = status
    if keep is not None:
        body = {k: v for k, v in body.items() if k in keep}
    return _encode({action.kind: body})


def _lines(body: bytes, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(array, starts, ends, flags) of the non-blank lines of `body`."""
    arr = np.frombuffer(body, np.uint8)
    starts, ends, flags, consumed, _ = split_lf(arr, max_len)
    if consumed < len(body):  # a last line without a newline
        starts = np.append(starts, consumed)
        ends = np.append(ends, min(len(body), consumed + max_len))
        flags = np.append(flags, np.uint8(TRUNCATED if len(body) - consumed > max_len else 0))
    starts, ends = trim_spans(arr, starts, ends)
    keep = ends > starts
    return arr, starts[keep].astype(np.int64), ends[keep].astype(np.int64), flags[keep]


def _one_action(body: bytes, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, url_index: str) -> Action | None:
    """The action when every other line, from the first, is the same index/create action (what
    shippers send: one action line repeated), found with numpy; None otherwise."""
    n = len(starts)
    if n % 2:
        return None
    a_starts, a_ends = starts[0::2], ends[0::2]
    width = int(a_ends[0] - a_starts[0])
    if width > 1024 or np.any(a_ends - a_starts != width):
        return None
    first = arr[a_starts[0] : a_starts[0] + width]
    if not np.array_equal(arr[a_starts[:, None] + np.arange(width)], np.broadcast_to(first, (n // 2, width))):
        return None
    action = _action_at(body[a_starts[0] : a_ends[0]], arr, int(a_starts[0]), url_index)
    return action if action.kind in STORED_ACTIONS else None


def _actions(
    body: bytes, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, url_index: str
) -> tuple[list[Action], np.ndarray]:
    """(actions, document line of each or -1) read line by line; raises BulkError."""
    n = len(starts)
    cache: dict[bytes, Action] = {}
    kinds: list[Action] = []
    doc_lines: list[int] = []
    j = 0
    starts_l, ends_l = starts.tolist(), ends.tolist()
    while j < n:
        text = body[starts_l[j] : ends_l[j]]
        action = cache.get(text)
        if action is None:
            action = _action_at(text, arr, starts_l[j], url_index)
            if len(cache) < MAX_CACHED_ACTIONS:
                cache[text] = action
        kinds.append(action)
        if action.kind == "delete":
            doc_lines.append(-1)
            j += 1
            continue
        if j + 1 >= n:
            line = _line(arr, starts_l[j])
            raise BulkError(f"Malformed action/metadata line [{line}]: the action has no document", line)
        doc_lines.append(j + 1)
        j += 2
    return kinds, np.asarray(doc_lines, np.int64)


def plan_bulk(body: bytes, max_len: int, url_index: str = "", item_fields: frozenset[str] | None = None) -> BulkPlan:
    """The plan for a bulk body; documents longer than `max_len` are cut and flagged (as every
    message is); each item answers with the fields in `item_fields` (None: all). Raises BulkError when
    the body is not a bulk request."""
    arr, starts, ends, flags = _lines(body, max_len)
    n = len(starts)
    if n == 0:
        raise BulkError("Validation Failed: 1: no requests added;")
    url_index = url_index or DEFAULT_INDEX
    one = _one_action(body, arr, starts, ends, url_index)
    if one is not None:  # no Python per document
        docs = np.arange(1, n, 2, dtype=np.int64)
        kinds: list[Action] = [one] * len(docs)
        is_stored = np.ones(len(docs), np.bool_)
    else:
        kinds, docs = _actions(body, arr, starts, ends, url_index)
        is_stored = np.array([a.kind in STORED_ACTIONS for a in kinds], np.bool_)
    has_doc = docs >= 0
    d = docs[has_doc]
    # A document must look like an object; a cut one has lost its closing brace, so only its
    # opening one is checked. Decoding it is the parsers' job.
    shaped = (arr[starts[d]] == ord("{")) & ((arr[ends[d] - 1] == ord("}")) | ((flags[d] & TRUNCATED) != 0))
    ok = np.zeros(len(docs), np.bool_)
    ok[np.flatnonzero(has_doc)] = shaped
    stored = is_stored & ok
    keep = docs[stored]

    items: list[bytes]
    if one is not None:
        items = [_item(one, 201, keep=item_fields)] * len(docs)
    else:
        done: dict[Action, bytes] = {}  # the answer of a stored action, made once per distinct action
        items = [done.get(a) or done.setdefault(a, _item(a, 201, keep=item_fields)) for a in kinds]
    refused = np.flatnonzero(~stored)
    # The line of each refused document, all at once (one line count per item would be quadratic).
    lines = np.searchsorted(np.flatnonzero(arr == 10), starts[docs[refused]]) + 1 if len(refused) else refused
    for k, line in zip(refused.tolist(), lines.tolist()):
        action = kinds[k]
        if action.kind in REFUSED_ACTIONS:
            error = (
                "illegal_argument_exception",
                f"logjet stores logs and does not change them: [{action.kind}] is not supported",
            )
        else:
            error = (
                "document_parsing_exception",
                f"[{line}:1] failed to parse: the document is not a JSON object",
            )
        items[k] = _item(action, 400, error, item_fields)
    return BulkPlan(starts[keep], ends[keep], flags[keep], items, len(refused), len(kinds))


def answer(plan: BulkPlan, took_ms: int, top: frozenset[str] | None = None) -> bytes:
    """The response body of a bulk request that was carried out, with the top-level keys in
    `top` (None: all)."""
    parts = []
    if top is None or "took" in top:
        parts.append(b'"took":%d' % took_ms)
    if top is None or "errors" in top:
        parts.append(b'"errors":true' if plan.errors else b'"errors":false')
    if top is None or "items" in top:
        parts.append(b'"items":[' + b",".join(plan.items) + b"]")
    return b"{" + b",".join(parts) + b"}"
