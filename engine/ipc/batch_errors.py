"""The named errors of decoding a batch from a ring record: a payload that is not a well-formed
raw or column batch raises one of these instead of failing somewhere downstream."""

from __future__ import annotations

from engine.errors import LogjetError


class BatchDecodeError(LogjetError, ValueError):
    """A ring record's payload is not a well-formed batch (a ValueError, as callers catch)."""


class BatchTruncated(BatchDecodeError):
    """The payload ends before its fixed header, its msgpack header or its data area does."""


class BatchHeaderInvalid(BatchDecodeError):
    """The header does not decode, or names arrays, dtypes or dictionaries the format lacks."""


class BatchArrayOutOfBounds(BatchDecodeError):
    """An array's directory entry points outside the payload (or is not whole items)."""


class BatchLengthMismatch(BatchDecodeError):
    """An array's length disagrees with the row count, or with the pair count of `kv_ptr`."""


class BatchOffsetsInvalid(BatchDecodeError):
    """Offsets (CSR pointers, frame spans) go backwards or point past the data they index."""


class BatchDictionaryError(BatchDecodeError):
    """A dictionary entry arrives out of sequence, or a row uses an id no entry defined."""
