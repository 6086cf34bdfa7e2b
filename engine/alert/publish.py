"""Compiling the configured alert rules file and publishing it as the rules snapshot that the
parsers and the evaluator load (`engine.alert.snapshot`). The supervisor does both at start and
on SIGHUP; a file that does not compile changes nothing.
"""

from __future__ import annotations

import logging
import os
import time
from typing import NamedTuple

from engine.alert.rules import EMPTY, RuleSet, load_rules
from engine.alert.snapshot import Snapshot, compiled_database, write
from engine.config import Settings
from engine.metrics import MetricsFile

log = logging.getLogger("logjet.alert")


class CompiledRules(NamedTuple):
    """A rules file checked and compiled, ready to publish."""

    rules: RuleSet
    database: bytes  # the hyperscan database of its patterns (empty: none)
    path: str  # the file, absolute; "" when no rules file is configured


def compile_rules_file(settings: Settings) -> CompiledRules:
    """The configured rules file (`alerts.rules_file`), checked and compiled; no rules when
    none is configured. Raises RulesError."""
    path = settings.alerts.rules_file
    if not path:
        return CompiledRules(EMPTY, b"", "")
    path = os.path.abspath(path)
    t0 = time.monotonic()
    rs = load_rules(path)
    db = compiled_database(rs, settings.data_dir)
    log.info(
        "alert rules: %d from %s (%d patterns, ready in %.1f s)",
        len(rs.rules),
        path,
        len(rs.pattern_rules),
        time.monotonic() - t0,
    )
    if not settings.listen.http:
        log.warning(
            "alert rules mark rows (alert:NAME) but nothing fires: the evaluator runs in "
            "the HTTP API process, and listen.http is off"
        )
    return CompiledRules(rs, db, path)


class RulesPublisher:
    """Writes compiled rules as the instance's rules snapshot, each publish a new generation
    (readers reload when it changes), and sets the `alert_rules` gauge."""

    def __init__(self, snapshot_path: str, metrics: MetricsFile):
        self.snapshot_path = snapshot_path
        self.metrics = metrics
        self.generation = 0

    def publish(self, compiled: CompiledRules) -> int:
        """Publish `compiled`; its generation."""
        self.generation += 1
        write(self.snapshot_path, Snapshot(self.generation, compiled.rules.source, compiled.path, compiled.database))
        self.metrics.gauge("alert_rules").set(len(compiled.rules.rules))
        return self.generation
