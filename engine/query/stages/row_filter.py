"""`| filter FILTER` (also `| where FILTER`): keep the rows or objects that match a filter, with
the fields earlier stages made (`| extract "status=<status> " | filter status:>=500`).

The filter is written and means exactly what it does before the first `|`; it is tested on
objects (engine.query.object_filter): one predicate call per leaf per chunk of rows. A filter
that needs no made field is cheaper before the first `|`, where the indexes answer it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.query.filters.base import Filter
from engine.query.object_filter import filter_fields, matching
from engine.query.objects import JsonObject
from engine.query.stages.transform import Transform


@dataclass(frozen=True)
class RowFilter(Transform):
    filter: Filter
    position: int = 0

    def apply(self, obj: JsonObject) -> None:  # never called: `table` drops, it does not change
        raise NotImplementedError

    def reads(self) -> set[str]:
        return filter_fields(self.filter)

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        if not objects:
            return objects
        hits = matching(self.filter, objects)
        return [o for o, hit in zip(objects, hits.tolist()) if hit]
