"""RateLimitedLog: one warning per interval, and the next one says how many were held back."""

from __future__ import annotations

import logging

from engine.receive.rate_limited_log import RateLimitedLog


def test_rate_limited_log_says_how_many_it_held_back(caplog):
    rl = RateLimitedLog(logging.getLogger("test.tls"), interval_s=3600)
    with caplog.at_level(logging.WARNING, "test.tls"):
        assert rl.warning("bad %s", "one")
        assert not any(rl.warning("bad %s", i) for i in range(50))
        rl._last -= 3600
        assert rl.warning("bad %s", "again")
    assert [r.getMessage() for r in caplog.records] == ["bad one", "bad again (50 more like this held back)"]
