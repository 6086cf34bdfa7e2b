"""The parser's dictionaries: one encoder per dictionary column, kept between batches.

Each batch ships only the values new since the last batch, with the encoder's epoch; the writer
rebuilds the tables from that stream (`engine.write.intake`). The epoch sent is made unique per
parser process (pid in the high bits) so that a restarted parser, whose encoders start again at
id 1, is never mistaken for its predecessor.
"""

from __future__ import annotations

import os

import numpy as np

from engine.ipc.column_batch import DictionaryUpdates
from engine.store.rows import DICTIONARIES
from native_kernels.dictionary import DictionaryEncoder

# Bounds on each table (the encoder resets past them): memory must not grow with uptime,
# and procid/source/field keys can take very many values.
MAX_ENTRIES = 1 << 16
MAX_BYTES = 8 << 20


class ParserDictionaries:
    def __init__(self) -> None:
        self.encoders = {c: DictionaryEncoder(MAX_ENTRIES, MAX_BYTES) for c in DICTIONARIES}
        self._pid_bits = os.getpid() << 24
        self._updates: DictionaryUpdates = {}
        # Each table's values (id i at index i - 1), kept only while something in the parser
        # reads rows with their values (alert filters): most parsers never pay for them.
        self.values: dict[str, list[bytes]] | None = None
        self._epochs: dict[str, int] = {}

    def keep_values(self, on: bool) -> None:
        if on and self.values is None:
            self.values = {c: self.encoders[c].values() for c in DICTIONARIES}
            self._epochs = {c: self.encoders[c].epoch for c in DICTIONARIES}
        elif not on:
            self.values = None

    def encode(self, column: str, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Ids of the spans. Call at most once per column per batch: the batch header carries
        one epoch per column, and an encoder may reset (new epoch) at the start of a call."""
        if column in self._updates:
            raise RuntimeError(f"{column} encoded twice in one batch")
        enc = self.encoders[column]
        ids, new = enc.encode(data, starts, ends)
        self._updates[column] = (self._pid_bits | enc.epoch, new)
        if self.values is not None:
            if self._epochs[column] != enc.epoch:
                self._epochs[column] = enc.epoch
                self.values[column] = []
            self.values[column].extend(v for _, v in new)
        return ids.astype(np.uint32, copy=False)

    def take_updates(self) -> DictionaryUpdates:
        """The dictionary section of the next column batch header ({column: (epoch, [(id, value)...])});
        clears the pending updates."""
        updates, self._updates = self._updates, {}
        return updates
