"""The contract of the stages that work on one row object at a time (extract, unpack_json,
unpack_logfmt, math, filter), and `FieldMaker`, the shared half of those that read one field's
text and write what they found in it.

Such a stage turns each row (or result object) into itself with more fields, or drops it
(`filter`). The executor runs it on rendered row objects (engine.query.object_pipeline): the
fields it makes exist only in the query's answer, so every stage after it (filter, stats, sort,
fields, ...) runs on objects too. A stage may carry a condition (LogsQL's `if (...)`): rows that
do not match it pass through untouched. Where a made field goes: engine.query.object_fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from engine.query.object_fields import field_text, has_value, set_field
from engine.query.object_filter import filter_fields, matching
from engine.query.objects import JsonObject
from engine.query.stages.base import Stage

if TYPE_CHECKING:
    from engine.query.filters.base import Filter


class Transform(Stage):
    """A stage applied to each object on its own; `apply` changes the object in place."""

    condition: Filter | None = None  # `if (...)`: only objects matching it are changed

    def apply(self, obj: JsonObject) -> None:
        raise NotImplementedError

    def reads(self) -> set[str]:
        """The fields it reads (so that only those of a row need rendering)."""
        return filter_fields(self.condition) if self.condition is not None else set()

    def table(self, objects: list[JsonObject]) -> list[JsonObject]:
        if self.condition is None:
            for obj in objects:
                self.apply(obj)
            return objects
        for obj, hit in zip(objects, matching(self.condition, objects)):
            if hit:
                self.apply(obj)
        return objects


@dataclass(frozen=True)
class Output:
    """What an unpacking or extracting stage does with what it found (LogsQL's options)."""

    prefix: str = ""  # result_prefix: prepended to every name it writes
    keep_original: bool = False  # keep_original_fields: never overwrite a non-empty value
    skip_empty: bool = False  # skip_empty_results: never write an empty value

    def write(self, obj: JsonObject, found: Mapping[str, str]) -> None:
        for key, value in found.items():
            name = self.prefix + key
            if self.skip_empty and value == "":
                continue
            if self.keep_original and has_value(obj, name):
                continue
            set_field(obj, name, value)


@dataclass(frozen=True, kw_only=True)
class FieldMaker(Transform):
    """A stage that reads one field's text (`from FIELD`, the message by default) and writes
    what it `found` there as fields; a text it finds nothing in leaves the object as it is."""

    source: str = "message"
    output: Output = field(default_factory=Output)
    condition: Filter | None = None
    position: int = 0

    def found(self, text: str) -> Mapping[str, str] | None:
        raise NotImplementedError

    def reads(self) -> set[str]:
        return super().reads() | {self.source}

    def apply(self, obj: JsonObject) -> None:
        text = field_text(obj, self.source)
        if not text:
            return
        got = self.found(text)
        if got:
            self.output.write(obj, got)
