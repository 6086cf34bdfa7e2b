"""Request bodies of the ingest routes: Content-Encoding (gzip, deflate, snappy) undone under a
size limit.

Every refusal is a `PushRefused` naming the HTTP status (400 bad body, 413 too large, 415 a
content type the route does not speak) and a short `reason` for the rejection counter. The
limit applies to the decompressed bytes too (`ingest.http_max_body`), so a small compressed
body cannot unpack into gigabytes: gzip and deflate are inflated with a cap, and snappy's block format
states its uncompressed length up front, which is checked before anything is allocated.
"""

from __future__ import annotations

import zlib
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


# zlib's window bits per Content-Encoding: gzip's header and trailer (31), or zlib's (15).
ZLIB_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` as it came on the wire with its Content-Encoding undone: gzip and deflate (all
    of the stream, or a 400), snappy (Loki senders name it there); anything else is a 415."""
    encoding = encoding.strip().lower()
    if encoding not in ("", "identity", "snappy", *ZLIB_WBITS):
        supported = "gzip, deflate, snappy"
        raise PushRefused(415, "bad_encoding", f"Content-Encoding {encoding!r} is not supported ({supported})")
    if encoding in ("", "identity") or not body:
        return body
    if encoding in ZLIB_WBITS:
        return _unzlib(body, encoding, limit)
    return unsnappy(body, limit)


def _unzlib(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip (every member of it) or deflate, inflated to at most `limit` bytes; the stream must
    end where the body does: a body cut short is refused, not stored in part."""
    wbits = ZLIB_WBITS[encoding]
    if wbits == 15 and body[0] & 0x0F != 8:
        wbits = -15  # raw deflate without zlib's header: some clients send it so
    out: list[bytes] = []
    size = 0
    rest = body
    while rest:
        stream = zlib.decompressobj(wbits)
        try:
            # One byte past the limit is enough to know it is over (a bomb is never unpacked).
            piece = stream.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise PushRefused(400, "bad_encoding", f"the body is not {encoding} data: {exc}") from None
        size += len(piece)
        if size > limit:
            raise too_large("the decompressed body", limit)
        if not stream.eof:
            raise PushRefused(400, "bad_encoding", f"the {encoding} body is cut short (its stream does not end)")
        out.append(piece)
        rest = stream.unused_data
        if wbits != 31 and rest:
            raise PushRefused(400, "bad_encoding", f"{len(rest)} bytes follow the end of the {encoding} stream")
        if not rest.strip(b"\0"):  # gzip pads with zeros at times (tape, some tools)
            break
    return b"".join(out)


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
