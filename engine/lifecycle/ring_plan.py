"""The layout of one instance: which workers run, in which control slots, and the rings between
them. A pure function of the settings, the instance and the bound ports.

    receiver r ──raw-r{r}-p{q}──► parser q ──col-p{q}──► writer
    api ─────────raw-api-p{q}───►          ──alert-p{q}─► api (the alert evaluator)

Every producer (each receiver, and the API when HTTP ingest is on) has one raw ring to each
parser, so no ring has two producers; each parser has one column ring to the writer and one
alert ring to the evaluator. Slots: the writer 0, then the parsers, the receivers, the API.
"""

from __future__ import annotations

import msgspec

from engine.config import Settings
from engine.ipc.shm import alert_ring_name, column_ring_name, raw_ring_name
from engine.worker.process import WorkerSpec

ALERT_RING_BYTES = 4 << 20  # alert counts: a few hundred bytes per batch that matched a rule


class RingPlan(msgspec.Struct, frozen=True):
    """The workers to start (in slot order) and the rings to create, by kind."""

    workers: tuple[WorkerSpec, ...]
    raw_rings: tuple[str, ...]  # producer-major: every parser's ring of the first producer, ...
    column_rings: tuple[str, ...]  # by parser
    alert_rings: tuple[str, ...]  # by parser

    def ring_bytes(self, raw_bytes: int, column_bytes: int) -> dict[str, int]:
        """Each ring's data bytes: raw and column rings as configured, alert rings
        ALERT_RING_BYTES."""
        sizes = dict.fromkeys(self.raw_rings, raw_bytes)
        sizes.update(dict.fromkeys(self.column_rings, column_bytes))
        sizes.update(dict.fromkeys(self.alert_rings, ALERT_RING_BYTES))
        return sizes


def plan_rings(settings: Settings, instance: str, shm_root: str, ports: dict[str, int]) -> RingPlan:
    """The plan for `settings` (resolved: worker counts filled in). `ports` are the bound
    listeners by setting name (syslog_tcp, syslog_udp, syslog_tls, http); receivers get the
    syslog ones, the API all of them."""
    receivers, parsers = settings.workers.receivers, settings.workers.parsers
    producers = [f"r{r}" for r in range(receivers)] + (["api"] if settings.listen.http else [])
    raw = {(p, q): raw_ring_name(p, q) for p in producers for q in range(parsers)}
    columns = tuple(column_ring_name(q) for q in range(parsers))
    alerts = tuple(alert_ring_name(q) for q in range(parsers))
    syslog_ports = {k: v for k, v in ports.items() if k != "http"}

    def worker(role: str, index: int, *, ports: dict[str, int] = ports, **rings: str | tuple[str, ...]) -> WorkerSpec:
        # The slot and `all_slots` are filled in once every worker is listed.
        spec = WorkerSpec(role=role, index=index, slot=0, instance=instance, shm_root=shm_root, ports=ports)
        return msgspec.structs.replace(spec, **rings)

    specs = [worker("writer", 0, input_rings=columns)]
    for q in range(parsers):
        inputs = tuple(raw[(p, q)] for p in producers)
        specs.append(worker("parser", q, input_rings=inputs, column_ring=columns[q], alert_ring=alerts[q]))
    for r in range(receivers):
        outputs = tuple(raw[(f"r{r}", q)] for q in range(parsers))
        specs.append(worker("receiver", r, ports=syslog_ports, raw_rings=outputs))
    if settings.listen.http:
        specs.append(worker("api", 0, input_rings=alerts, raw_rings=tuple(raw[("api", q)] for q in range(parsers))))
    slots = tuple((spec.name, slot) for slot, spec in enumerate(specs))
    return RingPlan(
        workers=tuple(msgspec.structs.replace(spec, slot=slot, all_slots=slots) for slot, spec in enumerate(specs)),
        raw_rings=tuple(raw.values()),
        column_rings=columns,
        alert_rings=alerts,
    )
