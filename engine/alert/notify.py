"""Notifier delivery: a bounded queue and one sender task per notifier, which delivers batches of
alerts (webhook, Alertmanager, NDJSON file) and retries failures with exponential back-off.

Contract (the evaluator's side): everything here runs on one asyncio loop and is not
thread-safe. `Notifiers.send()` only appends to a queue: it never blocks and never raises for
delivery problems, so a dead endpoint holds up nothing but its own notifier. The queue holds the
`Alert` objects themselves (payloads are built when a batch leaves it), so the caller must not
change an alert after handing it over: send a new one. Every alert handed to `send()` (after the
send_resolved filter) is reported exactly once through `on_outcome(name, outcome, n)`: "sent",
"failed" (gave up: attempts spent, or a 4xx other than 429 that a retry cannot change) or
"dropped" (queue full, notifier removed or changed while the alert was in flight, or still
undelivered when `close()` ran out of time). "retried" counts failed attempts on top, once per
attempt that will be followed by another.

A sender takes up to `BATCH_MAX` alerts off its queue and turns them into requests (a webhook
sends one per rule, the others one per batch); each request is tried up to max_attempts times,
waiting backoff, 2*backoff, ... capped at max_backoff between tries. Payloads are built once per
batch, so a retry sends the same bytes. One warning is logged when a notifier starts failing and
one line when it delivers again, not one per attempt.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import pathlib
import time
from collections.abc import Callable

import aiohttp
from multidict import CIMultiDict

from engine import __version__
from engine.alert.model import Alert, NotifierConfig
from engine.alert.notify_format import alertmanager_body, file_lines, group_by_rule, webhook_body

log = logging.getLogger("logjet.alert")

BATCH_MAX = 100  # alerts per request: bounds a body (~1 KiB an alert) and the time one try takes
ERROR_TEXT_MAX = 200  # characters of an error response body quoted in the log

OnOutcome = Callable[[str, str, int], None]

# the verdict of one attempt
_SENT, _RETRY, _GIVE_UP = "sent", "retry", "give up"


def retry_delays(config: NotifierConfig) -> list[float]:
    """Seconds waited before the 2nd, 3rd, ... attempt: backoff doubling up to max_backoff."""
    first, cap = config.backoff.seconds, config.max_backoff.seconds
    return [min(first * 2**i, cap) for i in range(config.max_attempts - 1)]


def _append(path: str, data: bytes) -> None:
    """Blocking: append `data` to the file at `path`, creating its folder. Run in a thread."""
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "ab") as f:
        f.write(data)


class _Sender:
    """One notifier: its queue, its sender task and the little state a failure burst needs."""

    def __init__(self, name: str, config: NotifierConfig, on_outcome: OnOutcome):
        self.name = name
        self.config = config
        self.task: asyncio.Task[None] | None = None
        self._on_outcome = on_outcome
        # a full deque drops from the left as it is extended: the oldest alerts go first
        self._queue: collections.deque[Alert] = collections.deque(maxlen=config.queue_size)
        self._wake = asyncio.Event()  # set when the queue gains alerts or closing begins
        self._in_flight = 0  # alerts taken off the queue, outcome not yet counted
        self._closing = False  # drain the queue, then end the task
        self._stopped = False  # task gone: later alerts are dropped at once
        self._failing = False  # in a failure burst (warned; no success since)
        self._burst_failed = 0  # alerts given up on in the current burst
        self._delays = retry_delays(config)
        self._timeout = aiohttp.ClientTimeout(total=config.timeout.seconds)
        self._headers = CIMultiDict(config.headers)
        self._headers["Content-Type"] = "application/json"  # ours wins over a configured one
        self._headers.setdefault("User-Agent", f"logjet/{__version__}")

    def enqueue(self, alerts: list[Alert]) -> None:
        if not self.config.send_resolved:
            alerts = [a for a in alerts if a.status == "firing"]
        if not alerts:
            return
        if self._stopped:
            self._on_outcome(self.name, "dropped", len(alerts))
            return
        over = len(self._queue) + len(alerts) - self.config.queue_size
        self._queue.extend(alerts)
        if over > 0:
            self._on_outcome(self.name, "dropped", over)
        self._wake.set()

    def take_over(self, old: _Sender) -> None:
        """Move the queue of the sender this one replaces into ours, under our config."""
        alerts = list(old._queue)
        old._queue.clear()
        kept = alerts if self.config.send_resolved else [a for a in alerts if a.status == "firing"]
        if len(kept) < len(alerts):  # they were promised an outcome when first queued
            self._on_outcome(self.name, "dropped", len(alerts) - len(kept))
        self.enqueue(kept)

    def start(self, session: aiohttp.ClientSession) -> None:
        self.task = asyncio.create_task(self._run(session), name=f"logjet notifier {self.name}")

    def begin_close(self) -> None:
        """Let the task end once the queue is empty (`close()` waits for that, up to a deadline)."""
        self._closing = True
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the task now; count what it had not delivered as dropped."""
        self._stopped = True
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task])  # unlike `await task`, does not raise our CancelledError
        left = len(self._queue) + self._in_flight
        self._queue.clear()
        self._in_flight = 0
        if left:
            self._on_outcome(self.name, "dropped", left)

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), BATCH_MAX))]
            self._in_flight = len(batch)
            try:
                for n, payload in self._requests(batch, time.time()):
                    await self._deliver(session, n, payload)
                    self._in_flight -= n
            except Exception:
                # a bug, not a delivery problem: count the batch and keep the notifier alive
                log.exception("notifier %r: cannot deliver a batch", self.name)
                self._on_outcome(self.name, "failed", self._in_flight)
            self._in_flight = 0

    def _requests(self, batch: list[Alert], now: float) -> list[tuple[int, bytes]]:
        """The batch as (alerts, payload) pairs, one per request."""
        kind = self.config.type
        if kind == "webhook":
            return [(len(g), webhook_body(self.name, g)) for g in group_by_rule(batch)]
        if kind == "alertmanager":
            return [(len(batch), alertmanager_body(batch, now))]
        return [(len(batch), file_lines(self.name, batch, now))]

    async def _deliver(self, session: aiohttp.ClientSession, n: int, payload: bytes) -> None:
        """Try one request until it is sent, its attempts are spent or it cannot succeed."""
        for attempt in range(len(self._delays) + 1):
            verdict, reason = await self._attempt(session, payload)
            if verdict == _SENT:
                if self._failing:
                    log.info(
                        "notifier %r delivers again (%d alerts given up on meanwhile)", self.name, self._burst_failed
                    )
                    self._failing, self._burst_failed = False, 0
                self._on_outcome(self.name, "sent", n)
                return
            if not self._failing:
                log.warning(
                    "notifier %r (%s) cannot deliver: %s (up to %d attempts a request; "
                    "no more warnings until it recovers)",
                    self.name,
                    self.config.type,
                    reason,
                    self.config.max_attempts,
                )
                self._failing = True
            if verdict == _GIVE_UP or attempt == len(self._delays):
                self._burst_failed += n
                self._on_outcome(self.name, "failed", n)
                return
            self._on_outcome(self.name, "retried", n)
            await asyncio.sleep(self._delays[attempt])

    async def _attempt(self, session: aiohttp.ClientSession, payload: bytes) -> tuple[str, str]:
        """One try: (verdict, why it failed)."""
        cfg = self.config
        if cfg.type == "file":
            try:
                # no timeout here: a thread cannot be stopped, and a write that finished after
                # we gave up on it would be written again by the retry
                await asyncio.to_thread(_append, cfg.path, payload)
            except OSError as exc:
                return _RETRY, f"{cfg.path}: {exc.strerror or exc}"
            return _SENT, ""
        url = cfg.url if cfg.type == "webhook" else cfg.url.rstrip("/") + "/api/v2/alerts"
        try:
            async with session.post(url, data=payload, headers=self._headers, timeout=self._timeout) as resp:
                text = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:  # OSError covers TimeoutError
            return _RETRY, f"POST {url}: {type(exc).__name__} {exc}".rstrip()
        if 200 <= status < 300:
            return _SENT, ""
        reason = f"POST {url}: HTTP {status} {text[:ERROR_TEXT_MAX].decode('utf-8', 'replace')}"
        return (_RETRY if status == 429 or status >= 500 else _GIVE_UP), reason.rstrip()


class Notifiers:
    """The notifiers of a rules file, by name. See the module docstring for the contract."""

    def __init__(self, configs: dict[str, NotifierConfig], on_outcome: OnOutcome):
        self._on_outcome = on_outcome
        self._senders = {name: _Sender(name, cfg, on_outcome) for name, cfg in configs.items()}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session and start one sender task per notifier (on the running loop)."""
        if self._session is not None:
            return
        # each sender has at most one request in flight, so the pool needs no limit of its own
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for sender in self._senders.values():
            sender.start(self._session)

    def send(self, notifier: str, alerts: list[Alert]) -> None:
        """Queue `alerts` for `notifier` (KeyError if there is none); the list is not kept."""
        self._senders[notifier].enqueue(alerts)

    def names(self) -> list[str]:
        return list(self._senders)

    def kind(self, notifier: str) -> str:
        return self._senders[notifier].config.type

    async def reload(self, configs: dict[str, NotifierConfig]) -> None:
        """Apply a new set of notifiers. Unchanged ones keep their queue and task; removed ones
        stop at once and count their undelivered alerts as dropped; a changed one is replaced by
        a new sender that takes over its queue (the alerts in flight are dropped)."""
        old, new = self._senders, {}
        for name, cfg in configs.items():
            sender = old.get(name)
            if sender is not None and sender.config == cfg:
                new[name] = sender
                continue
            new[name] = _Sender(name, cfg, self._on_outcome)
            if sender is not None:
                new[name].take_over(sender)
        # swap before awaiting, so send() from here on reaches the new senders
        self._senders = new
        for name, sender in old.items():
            if new.get(name) is not sender:
                await sender.stop()
        if self._session is not None:
            for sender in new.values():
                if sender.task is None:
                    sender.start(self._session)

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within `timeout` seconds, then cancel (the rest is dropped) and
        close the HTTP session. `send()` after this drops."""
        senders = list(self._senders.values())
        for sender in senders:
            sender.begin_close()
        tasks = [s.task for s in senders if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for sender in senders:
            await sender.stop()
        if self._session is not None:
            await self._session.close()
