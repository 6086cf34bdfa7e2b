"""The kinds of ring records: the u16 in each record header that says what its payload holds.

    kind  name                payload                                               from → to
    0     (pad)               none: fills the end of the data area (engine.ipc.ring)  any
    1     KIND_RAW            raw frame batch (engine.ipc.raw_batch)                 receiver → parser
    2     KIND_COLUMNS        column batch (engine.ipc.column_batch)                 parser → writer
    3     KIND_ALERT_COUNTS   msgpack [recv_ns, [[rule, digest, [group key, ...],   parser → evaluator
                              [count, ...]], ...]], a group key the list of its
                              group_by values (engine.alert.ingest_alerts)

Kinds are stored in rings that outlive a process: append, never renumber.
"""

from __future__ import annotations

KIND_RAW = 1
KIND_COLUMNS = 2
KIND_ALERT_COUNTS = 3
