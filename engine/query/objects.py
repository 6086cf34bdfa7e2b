"""The shape of query results: JSON objects (one per row, or per group of an aggregation), as
stages pass them on and the API encodes them."""

from __future__ import annotations

from typing import Mapping, Sequence, TypeAlias

# Read-only container types, so that a dict[str, str] or a list[str] is a Json value as it is.
Json: TypeAlias = "None | bool | int | float | str | Sequence[Json] | Mapping[str, Json]"
JsonObject: TypeAlias = "dict[str, Json]"
