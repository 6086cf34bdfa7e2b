"""What the general JSON row path does with every object of one shape (its keys, nested objects
included, in order), worked out once per shape: the `Plan` that `engine.parse.json_rows` applies
a column at a time to all the rows of that shape.

A shape (`shape_of`) is the tuple of an object's keys, where a key whose value is an object the
general path flattens becomes `(key, shape of that object)`; a flat object's shape is
`tuple(obj)`. The plan mirrors the general path under the built-in names only: which value fills
each column (the first usable one, or a name reaching into a nested object: `host.name`), what is
removed, and the dotted names and paths of the fields left. Values still decide: the plan assumes
each chosen value is usable, and a row where one is not goes down the general path.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from engine.parse.json_keys import (
    PRIMARY_NAMES,
    ROLE_APP,
    ROLE_HOST,
    ROLE_MESSAGE,
    ROLE_SEVERITY,
    ROLE_TIME,
    SECONDARY_CANDIDATES,
)

# Objects nested deeper than this are kept whole, as the JSON text of one field: field names
# stay short, and the recursion stays far from Python's limit.
MAX_FLATTEN_DEPTH = 16
# Shapes nested deeper than this get no plan (the general path takes them): shippers nest a few
# levels, and a plan's columns are one list per nested object.
MAX_PLAN_DEPTH = 8

Path = tuple[str, ...]
Shape = tuple[Any, ...]  # str (a value kept whole) or (str, Shape) (an object flattened)


class Plan(NamedTuple):
    """The general path's work on one shape. Each column's value is at a path of keys from the
    top (None: no value fills it; `message_strict`: a string only). `nodes` are the nested
    objects whose keys a row must have, in this order, to be of the shape (parents first; none
    for a flat shape); `fields` the paths of the values left, `names` their dotted names,
    encoded."""

    message: Path | None
    message_strict: bool
    host: Path | None
    app: Path | None
    severity: Path | None
    time: Path | None
    time_key: str  # the field a time value that is not a time after all becomes
    nodes: tuple[tuple[Path, tuple[str, ...]], ...]
    fields: tuple[Path, ...]
    names: list[bytes]


def shape_of(obj: dict[str, Any]) -> Shape:
    """The shape of a decoded object (see the module's docstring)."""
    for value in obj.values():
        if type(value) is dict and value:
            return _nested(obj, 1)
    return tuple(obj)


def _nested(obj: dict[str, Any], depth: int) -> Shape:
    # the same test as the general path's flattening, so that the shape is what it walks
    return tuple(
        (key, _nested(value, depth + 1)) if type(value) is dict and value and depth < MAX_FLATTEN_DEPTH else key
        for key, value in obj.items()
    )


def _entries(shape: Shape) -> dict[str, Shape | None]:
    """key → the shape of its object, None for a value kept whole. A key twice in a shape cannot
    happen (a decoded object keeps one value per key)."""
    return dict((e, None) if type(e) is str else e for e in shape)


def _depth(shape: Shape) -> int:
    return 1 + max((_depth(e[1]) for e in shape if type(e) is not str), default=0)


def _at(entries: dict[str, Shape | None], key: str, path: Path) -> tuple[bool, bool]:
    """(found, whole) for the value at `key` + `path`: whether the general path finds a value
    there, and whether it is a value kept whole (not an object with keys, which every column
    but the message refuses)."""
    if key not in entries:
        return False, False
    sub = entries[key]
    for name in path:
        if sub is None:  # into a value kept whole: not an object with keys, nothing there
            return False, False
        inner = _entries(sub)
        if name not in inner:
            return False, False
        sub = inner[name]
    return True, sub is None


def plan_of(shape: Shape) -> Plan | None:
    """The plan of `shape` under the built-in names, or None when the general path should take
    every row of it (deep nesting, or a message that is a whole object reached by a path)."""
    if _depth(shape) > MAX_PLAN_DEPTH:
        return None
    top = _entries(shape)
    chosen: dict[int, tuple[str, Path, bool]] = {}  # role → (key, path, strict)
    for key, sub in top.items():  # the primary names: the first usable one of each role
        role = PRIMARY_NAMES.get(key)
        if role is None or role in chosen:
            continue
        if sub is not None and role != ROLE_MESSAGE:
            continue  # an object: only the message column takes one (as its JSON text)
        chosen[role] = (key, (), False)
    filled = set(chosen)
    gone = {key for key, _, _ in chosen.values()}  # taken by a primary name: no longer there
    best: dict[int, tuple[int, str, Path, bool]] = {}
    for key in top:  # the other shippers' names, for the columns still empty
        if key in gone:
            continue
        for role, rank, path, strict in SECONDARY_CANDIDATES.get(key, ()):
            if role in filled or (role in best and best[role][0] <= rank):
                continue
            found, whole = _at(top, key, path)
            if not found:
                continue
            if not whole:
                if role != ROLE_MESSAGE or strict:
                    continue  # an object: refused
                return None
            best[role] = (rank, key, path, strict)
    for role, (_, key, path, strict) in best.items():
        chosen[role] = (key, path, strict)
    taken = {(key, *path) for key, path, _ in chosen.values()}
    nodes: list[tuple[Path, tuple[str, ...]]] = []
    fields: list[Path] = []
    names: list[str] = []
    _walk(shape, (), "", taken, nodes, fields, names)

    def path_of(role: int) -> Path | None:
        return (chosen[role][0], *chosen[role][1]) if role in chosen else None

    time_key = ".".join(path_of(ROLE_TIME) or ())
    return Plan(
        path_of(ROLE_MESSAGE),
        chosen[ROLE_MESSAGE][2] if ROLE_MESSAGE in chosen else False,
        path_of(ROLE_HOST),
        path_of(ROLE_APP),
        path_of(ROLE_SEVERITY),
        path_of(ROLE_TIME),
        time_key,
        tuple(nodes),
        tuple(fields),
        [name.encode() for name in names],
    )


def _walk(
    shape: Shape,
    at: Path,
    prefix: str,
    taken: set[Path],
    nodes: list[tuple[Path, tuple[str, ...]]],
    fields: list[Path],
    names: list[str],
) -> None:
    """The nested objects of `shape` to check, and the fields the general path's flattening
    leaves once the `taken` values are gone (an object they leave empty goes too, so it leaves
    no field). A value taken whole (the message may be an object) is not looked into."""
    for entry in shape:
        key, sub = (entry, None) if type(entry) is str else entry
        path = (*at, key)
        if path in taken:
            continue
        if sub is None:
            fields.append(path)
            names.append(prefix + key)
        else:
            nodes.append((path, tuple(e if type(e) is str else e[0] for e in sub)))
            _walk(sub, path, prefix + key + ".", taken, nodes, fields, names)
