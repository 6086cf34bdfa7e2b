"""`| limit N` (also `head N`): the first N rows or objects; on rows, the N newest unless
sorted before."""

from __future__ import annotations

from dataclasses import dataclass

from engine.query.objects import JsonObject
from engine.query.stages.base import Stage


@dataclass(frozen=True)
class Limit(Stage):
    n: int
    position: int = 0

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        return objects[: self.n]
