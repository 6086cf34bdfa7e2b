"""What the evaluator hands to notifiers: one `Alert` per (rule, group) state change or resend,
and the configuration of one notifier as written in the rules file; and what the parsers hand
the evaluator: one `CountsRecord` per batch."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from engine.units import Duration


class Alert(msgspec.Struct):
    """One alert instance: a rule and one combination of its `group_by` values."""

    rule: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]  # alertname, severity, group_by values, the rule's labels
    annotations: dict[str, str]
    starts_at: float  # epoch seconds when it started firing
    ends_at: float | None  # epoch seconds when it resolved; None while firing
    value: float  # the rule's count in its window at the last evaluation
    fingerprint: str  # stable id of (rule, labels), hex
    generator_url: str = ""  # a query URL that shows the matching rows


# What a parser sends the evaluator per batch (msgpack in the parser's alert ring): the batch's
# receive time in ns, then per rule that matched (rule name, rule digest, group keys, rows per
# group); a group key is the rule's group_by values as text, "" where a row has none.
RuleCounts = tuple[str, str, list[list[str]], list[int]]
CountsRecord = tuple[int, list[RuleCounts]]

_counts_decoder = msgspec.msgpack.Decoder(CountsRecord)


def encode_counts(record: CountsRecord) -> bytes:
    return msgspec.msgpack.encode(record)


def decode_counts(payload: bytes | memoryview) -> CountsRecord:
    """Raises msgspec.DecodeError (ValidationError included) for a damaged record."""
    return _counts_decoder.decode(payload)


class NotifierConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`[notifiers.NAME]` in the rules file."""

    type: Literal["webhook", "alertmanager", "file"]
    url: str = ""  # webhook: the URL POSTed to; alertmanager: its base URL
    path: str = ""  # file: the NDJSON file appended to
    timeout: Duration = Duration.parse("5s")  # per request
    headers: dict[str, str] = {}  # extra HTTP headers (e.g. Authorization)
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 6
    backoff: Duration = Duration.parse("500ms")  # first retry delay; doubles per attempt
    max_backoff: Duration = Duration.parse("30s")
    queue_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    send_resolved: bool = True

    def __post_init__(self) -> None:
        if self.type in ("webhook", "alertmanager") and not self.url.startswith(("http://", "https://")):
            raise ValueError(f'a {self.type} notifier needs url = "http://..."')
        if self.type == "file" and not self.path:
            raise ValueError('a file notifier needs path = "..."')
