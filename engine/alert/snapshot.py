"""The rule set in force, as one file in the instance folder: the rules file's bytes as checked
plus the compiled hyperscan database, so that P parsers and the evaluator load exactly the same
rules and nobody but the supervisor spends seconds compiling thousands of patterns.

Compiled databases are also cached in the data dir (`.cache/alerts-<sha>.hsdb`, keyed by the
patterns and hyperscan's version): 10,000 patterns take tens of seconds to compile, and a
restart with unchanged rules should not pay that again.
"""

from __future__ import annotations

import hashlib
import logging
import os

import msgspec

from engine.alert.rules import EMPTY, RuleSet, compile_rules, parse_rules

log = logging.getLogger("logjet.alert")


class Snapshot(msgspec.Struct):
    generation: int
    source: bytes
    path: str
    database: bytes  # empty when the rules have no patterns


def _cache_path(data_dir: str, rs: RuleSet) -> str:
    import hyperscan

    # The blob's layout (patterns.dump) and the library's version. The package sets __version__;
    # its stub does not declare it.
    version: str = hyperscan.__version__  # type: ignore[attr-defined]
    h = hashlib.sha256(version.encode() + b"|all+single")
    for r in rs.pattern_rules:
        h.update(r.spec.pattern.encode() + b"\0")
    return os.path.join(data_dir, ".cache", f"alerts-{h.hexdigest()[:24]}.hsdb")


def compiled_database(rs: RuleSet, data_dir: str | None) -> bytes:
    """The serialized database of `rs`'s patterns: from the cache, or compiled (and cached)."""
    from native_kernels.patterns import dump, load

    if not rs.pattern_rules:
        return b""
    cache = _cache_path(data_dir, rs) if data_dir else None
    if cache and os.path.exists(cache):
        try:
            with open(cache, "rb") as f:
                blob = f.read()
            load(blob)  # refuses a file from another platform or a damaged one
            return blob
        except Exception as exc:
            log.warning("ignoring cached alert database %s: %s", cache, exc)
    patterns = compile_rules(rs)
    if patterns is None:  # no pattern rules (checked above)
        return b""
    blob = dump(patterns)
    if cache:
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            tmp = cache + ".tmp"
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, cache)
        except OSError as exc:
            log.warning("cannot cache the alert database in %s: %s", cache, exc)
    return blob


def write(path: str, snap: Snapshot) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.msgpack.encode(snap))
    os.replace(tmp, path)  # readers see the old or the new set, never half of one


def read(path: str) -> tuple[int, RuleSet, bytes]:
    """(generation, rule set, database bytes); generation 0 and no rules when there is none."""
    try:
        with open(path, "rb") as f:
            snap = msgspec.msgpack.decode(f.read(), type=Snapshot)
    except FileNotFoundError:
        return 0, EMPTY, b""
    if not snap.source:
        return snap.generation, EMPTY, b""
    return snap.generation, parse_rules(snap.source, snap.path), snap.database
