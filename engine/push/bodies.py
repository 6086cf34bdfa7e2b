"""Request bodies of the push routes: Content-Encoding and snappy undone under a size limit.

Every refusal is a `PushRefused` naming the HTTP status (400 bad body, 413 too large, 415 a
content type the route does not speak) and a short `reason` for the rejection counter. The
limit applies to the decompressed bytes too (`ingest.http_max_body`), so a small compressed
body cannot unpack into gigabytes: gzip is inflated with a cap, and snappy's block format
states its uncompressed length up front, which is checked before anything is allocated.
"""

from __future__ import annotations

from typing import TypeVar

import cramjam
from google.protobuf.message import DecodeError, Message

from engine.errors import LogjetError

M = TypeVar("M", bound=Message)


class PushRefused(LogjetError):
    """A push request that is not stored: `status` for the reply, `reason` for the counter."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def too_large(size: str, limit: int) -> PushRefused:
    return PushRefused(413, "too_large", f"{size} is larger than ingest.http_max_body ({limit} bytes)")


# Content-Encodings the HTTP server (aiohttp) undoes itself while reading the body, under the
# same size limit (it counts the decompressed bytes).
SERVER_DECODED = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` (as the server read it) with the rest of its Content-Encoding undone: snappy,
    which Loki senders may name there; gzip, deflate, br and zstd are already undone."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity") or encoding in SERVER_DECODED:
        return body
    if encoding == "snappy":
        return unsnappy(body, limit)
    raise PushRefused(415, "bad_encoding", f"Content-Encoding {encoding!r} is not supported (gzip, deflate, snappy)")


def _snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block starts with (a little-endian base-128 varint)."""
    n = shift = 0
    for k in range(min(len(body), 10)):
        b = body[k]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n
        shift += 7
    raise PushRefused(400, "bad_encoding", "the body is not snappy-compressed (no length header)")


def unsnappy(body: bytes, limit: int) -> bytes:
    """A snappy block (the block format Loki's protobuf pushes use, not the framed one)."""
    if _snappy_length(body) > limit:
        raise too_large("the decompressed body", limit)
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError:
        raise PushRefused(400, "bad_encoding", "the body is not valid snappy-compressed data") from None


def parse_protobuf(message: M, body: bytes, what: str) -> M:
    """`message` read from `body`; a PushRefused naming `what` when the body is not one."""
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise PushRefused(400, "bad_protobuf", f"the body is not {what}: {exc}") from None
    return message
