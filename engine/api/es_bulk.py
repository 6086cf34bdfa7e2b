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


def _action(text: bytes, line: int, url_index: str) -> Action:
    try:
        obj = _action_decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise BulkError(f"Malformed action/metadata line [{line}]: {exc}", line) from None
    if len(obj) != 1:
        raise BulkError(f"Malformed action/metadata line [{line}], expected one action but found {len(obj)}", line)
    ((kind, meta),) = obj.items()
    if kind not in STORED_ACTIONS and kind not in REFUSED_ACTIONS:
        raise BulkError(
            f"Malformed action/metadata line [{line}], expected field [create], [delete], [index] or [update] "
            f"but found [{kind}]",
            line,
        )
    if type(meta) is not dict:
        raise BulkError(f"Malformed action/metadata line [{line}], expected an object after [{kind}]", line)
    index = meta.get("_index")
    doc_id = meta.get("_id")
    return Action(
        kind,
        index if type(index) is str and index else url_index,
        None if doc_id is None else doc_id if type(doc_id) is str else _encode(doc_id).decode(),
    )


def _item(action: Action, status: int, error: tuple[str, str] | None = None) -> bytes:
    body: dict[str, Any] = {"_index": action.index_name}
    if action.doc_id is not None:
        body["_id"] = action.doc_id
    if error is None:
        body.update(_version=1, result="created", _shards={"total": 1, "successful": 1, "failed": 0})
    else:
        body["error"] = {"type": error[0], "reason": error[1]}
    body["status"] = status
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


def plan_bulk(body: bytes, max_len: int, url_index: str = "") -> BulkPlan:
    """The plan for a bulk body; documents longer than `max_len` are cut and flagged (as every
    message is). Raises BulkError when the body is not a bulk request."""
    arr, starts, ends, flags = _lines(body, max_len)
    n = len(starts)
    if n == 0:
        raise BulkError("Validation Failed: 1: no requests added;")
    url_index = url_index or DEFAULT_INDEX
    # Line numbers in errors count every line of the body, blank ones too, as Elasticsearch's do.
    line_no = np.searchsorted(np.flatnonzero(arr == 10), starts) + 1
    cache: dict[bytes, Action] = {}
    kinds: list[Action] = []
    doc_lines: list[int] = []  # per item: its document line, or -1
    j = 0
    starts_l, ends_l = starts.tolist(), ends.tolist()
    while j < n:
        text = body[starts_l[j] : ends_l[j]]
        action = cache.get(text)
        if action is None:
            action = _action(text, int(line_no[j]), url_index)
            if len(cache) < MAX_CACHED_ACTIONS:
                cache[text] = action
        kinds.append(action)
        if action.kind == "delete":
            doc_lines.append(-1)
            j += 1
            continue
        if j + 1 >= n:
            line = int(line_no[j])
            raise BulkError(f"Malformed action/metadata line [{line}]: the action has no document", line)
        doc_lines.append(j + 1)
        j += 2

    docs = np.asarray(doc_lines, np.int64)
    has_doc = docs >= 0
    d = docs[has_doc]
    # A document must look like an object; a cut one has lost its closing brace, so only its
    # opening one is checked. Decoding it is the parsers' job.
    shaped = (arr[starts[d]] == ord("{")) & ((arr[ends[d] - 1] == ord("}")) | ((flags[d] & TRUNCATED) != 0))
    ok = np.zeros(len(docs), np.bool_)
    ok[np.flatnonzero(has_doc)] = shaped
    stored = np.array([a.kind in STORED_ACTIONS for a in kinds], np.bool_) & ok
    keep = docs[stored]

    items: list[bytes] = []
    done: dict[Action, bytes] = {}  # the answer of a stored action, made once per distinct action
    errors = 0
    for k, (action, is_stored) in enumerate(zip(kinds, stored.tolist())):
        if is_stored:
            answer = done.get(action)
            if answer is None:
                answer = done[action] = _item(action, 201)
            items.append(answer)
            continue
        errors += 1
        if action.kind in REFUSED_ACTIONS:
            error = (
                "illegal_argument_exception",
                f"logjet stores logs and does not change them: [{action.kind}] is not supported",
            )
        else:
            error = (
                "document_parsing_exception",
                f"[{int(line_no[docs[k]])}:1] failed to parse: the document is not a JSON object",
            )
        items.append(_item(action, 400, error))
    return BulkPlan(starts[keep], ends[keep], flags[keep], items, errors, len(kinds))


def answer(plan: BulkPlan, took_ms: int) -> bytes:
    """The response body of a bulk request that was carried out."""
    head = b'{"took":%d,"errors":%s,"items":[' % (took_ms, b"true" if plan.errors else b"false")
    return head + b",".join(plan.items) + b"]}"
