"""`/api/v1/query` and `/api/v1/tail`: the query language over HTTP, streamed as NDJSON.

    GET|POST /api/v1/query?q=QUERY&start=T&end=T&limit=N   rows newest first, or one object per
                                                           group/bucket for stats/histogram/top
    GET      /api/v1/tail?q=QUERY                          new matching rows as parts appear

Parameters come from the URL, and for POST also from a form or JSON object body (or the query
itself as a text/plain body); query_params.py reads and checks them. `T` is RFC 3339, epoch
seconds, or relative (`15m`). A bad query or parameter (an unknown one too) is a 400
`{"error": "...", "position": N}` (position null for parameters). docs/http-api.md documents them.

The executor is blocking (numpy, zstd, numba; they release the GIL), so each request pulls its
result chunk by chunk from a pool of `query.max_concurrent` threads; the event loop only writes
bytes and stays free for health checks, metrics and ingest. The exception is an aggregation
the parts' block counts answer with work proven small beforehand (engine.query.quick: a count
of everything or of a host or app, well under a millisecond): it is made on the event loop,
where the trip to a thread and back would cost more than the answer. Each pull also says whether it was
the last where that is known without more work (an aggregation's answer is whole once its
first chunk is made; rows are done at the limit), so a short answer costs one trip to a thread
and goes out as one plain response. A failure after the first byte cannot change the status:
it ends the stream with one `{"error": ...}` line. Tails stop on shutdown and when the client
goes away.

Limits (`[query]`, engine.query.limits), each refused with a JSON error naming its setting:
`query.max_concurrent` queries run at once and `query.max_tails` tails are open at once (one
more: 429 with `Retry-After: 1`, at once); a `limit` above `query.max_rows_limit` is a 400 and
no limit means `query.max_rows` rows; a query still running after `query.timeout` is stopped
(503, or a final error line); an answer past `query.max_response_bytes` ends with a final error
line (400 if not one whole line fits); an aggregation past `query.max_groups` is a 400 naming
its fields. A query's slot is given back once its generator is closed, which waits for the
chunk in flight: so the threads are never more than the slots, and no query queues for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Generator, Iterator

import msgspec
from aiohttp import web

from engine.api.query_params import QUERY_PARAMS, TAIL_PARAMS, BadParam, read_params, time_range
from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.execute import PreparedQuery, prepare
from engine.query.limits import (
    Deadline,
    Gate,
    LimitParamError,
    QueryTimeout,
    ResponseBudget,
    requested_limit,
)
from engine.query.objects import JsonObject
from engine.query.quick import quick_answer
from engine.query.tail import POLL_S, Tail
from engine.worker import heap
from engine.worker.heap import give_back

if TYPE_CHECKING:
    from engine.config import Query, Settings
    from engine.metrics import MetricsFile
    from engine.worker.loop import WorkerShm
    from engine.worker.process import WorkerSpec

log = logging.getLogger("logjet.api")

NDJSON = "application/x-ndjson"
RETRY_AFTER_S = 1  # what a refused client is told to wait: slots free up as queries end
# A write gets at least this long, so that a chunk made before the deadline, and the error line
# after it, still reach a client that reads.
WRITE_GRACE_S = 1.0
# A whole answer up to this size goes out as a plain response, written after the handler
# returns: it fits the socket buffers, so a client that does not read cannot hold it up. A
# bigger one is streamed under the query's time (`_write`).
PLAIN_MAX_BYTES = 64 * 1024
# Memory the queries freed goes back to the OS once none has run for this long. Queries in a
# row (a dashboard's panels, a script, a benchmark) reuse what the last one freed: given back
# after each, every query faulted its buffers in afresh, page by page, at 2-45 us a page on a
# VM (up to 100 ms of system time for a regex over 1M rows), and malloc_trim itself walks every
# arena under its lock while the next query's allocations wait.
TRIM_AFTER_IDLE_S = 2.0
# What the API process keeps of the memory queries free between two trims (engine.worker.heap):
# a block's decompressed messages (~5 MB at 64k rows) and columns stay on the heap, reused by
# the next query; at most this much free at the heap's top before glibc trims it anyway.
HEAP_MMAP_THRESHOLD = 16 << 20
HEAP_TRIM_THRESHOLD = 64 << 20
_encoder = msgspec.json.Encoder()


def _encode_lines(objs: list[JsonObject]) -> bytes:
    return msgspec.json.Encoder().encode_lines(objs)


def _error_body(message: str, position: int | None) -> bytes:
    return _encoder.encode({"error": message, "position": position})


def _error(message: str, position: int | None, status: int = 400, retry_after: bool = False) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if retry_after else None
    return web.Response(
        body=_error_body(message, position), status=status, content_type="application/json", headers=headers
    )


# A chunk's lines and whether it is the answer's last (None, True: the answer had no lines).
Step = tuple[bytes | None, bool]
# Generator states in which closing runs no code: it can be done on the event loop.
_NOTHING_TO_CLEAN = (inspect.GEN_CREATED, inspect.GEN_CLOSED)


def _with_last(chunks: Iterator[bytes]) -> Generator[Step, None, None]:
    """Each chunk with whether it is the last, found by reading one chunk ahead (for answers
    already whole in memory, where that costs nothing). A failure while reading ahead comes
    after the chunk before it, as it would without the look-ahead."""
    pending = next(chunks, None)
    if pending is None:
        yield None, True
        return
    while True:
        try:
            following = next(chunks, None)
        except Exception:
            yield pending, False
            raise
        yield pending, following is None
        if following is None:
            return
        pending = following


class _Answer:
    """One query's NDJSON, made on the query threads one chunk at a time (never two at once);
    with no threads, an answer already whole in memory, encoded where it is asked for."""

    def __init__(self, steps: Generator[Step, None, None], threads: ThreadPoolExecutor | None):
        self.steps = steps
        self.threads = threads
        self.inflight: asyncio.Future[Step] | None = None

    async def next(self, deadline: Deadline) -> Step:
        """The next chunk's lines and whether they are the last ((None, True) once there are
        none). Raises QueryTimeout once the deadline passes (the chunk in flight goes on in its
        thread; `close` waits for it), or what the query raised."""
        left = deadline.left()
        if left <= 0:
            raise QueryTimeout(deadline.elapsed())
        if self.threads is None:
            return next(self.steps, (None, True))
        self.inflight = asyncio.get_running_loop().run_in_executor(self.threads, self._step)
        try:
            return await asyncio.wait_for(asyncio.shield(self.inflight), left)
        except TimeoutError:
            raise QueryTimeout(deadline.elapsed()) from None

    def _step(self) -> Step:
        """The next step, on a query thread. After the last, the generator is closed in the same
        trip (its cleanup waits for the blocks it read ahead), so that `close` needs no second
        trip to a thread: a small answer costs one."""
        step = next(self.steps, (None, True))
        if step[1]:
            try:
                self.steps.close()
            except Exception:  # noqa: BLE001 - the answer is made; a failed cleanup is logged
                log.exception("closing a query failed")
        return step

    def close(self, then: Callable[[], None]) -> None:
        """Close the generator once no chunk of it is in flight (now, or when the one in flight
        ends), then call `then`. Returns at once. The closing runs on a query thread, unless the
        generator has nothing left to clean up (never started, ended, or closed by `_step`)."""
        inflight = self.inflight
        idle = inflight is None or inflight.done()
        if self.threads is None or (idle and inspect.getgeneratorstate(self.steps) in _NOTHING_TO_CLEAN):
            if inflight is not None and not inflight.cancelled():
                _drop_frames(inflight.exception())  # the client already has its answer
            self.steps.close()
            then()
            return
        threads = self.threads

        def close_and_then() -> None:
            try:
                self.steps.close()
            except Exception:  # noqa: BLE001 - a query's cleanup must not keep its slot
                log.exception("closing a query failed")
            finally:
                then()

        def submit(done: asyncio.Future[Step] | None = None) -> None:
            if done is not None and not done.cancelled():
                _drop_frames(done.exception())  # the client already has its answer
            threads.submit(close_and_then)

        if inflight is None or inflight.done():
            submit(inflight)
        else:
            inflight.add_done_callback(submit)


class QueryRoutes:
    def __init__(self, data_dir: str, limits: Query, metrics: MetricsFile | None = None):
        self.data_dir = data_dir
        self.limits = limits
        self.catalog = Catalog.get(data_dir)
        slots = limits.concurrency()
        # Memory freed by queries goes back to the OS once none ran for a while (TRIM_AFTER_IDLE_S),
        # if one ran on the threads since the last time: an answer made inline frees little.
        self.queries = Gate(slots, on_idle=self._idle)
        self._threaded = False
        self._trim_lock = threading.Lock()  # _idle runs on the event loop or a query thread
        self._left_at = 0.0  # when the last query left
        self._trim_due = False  # a trim is set (_trim_if_idle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="logjet-http-query")
        self.tails = Gate(limits.max_tails)
        self.tail_threads = ThreadPoolExecutor(max_workers=limits.max_tails, thread_name_prefix="logjet-http-tail")
        self.duration = metrics.histogram("query_duration_seconds") if metrics is not None else None
        self.stopping = asyncio.Event()

    def _idle(self) -> None:
        """The last query left: if one ran on the threads since memory last went back, a trim
        is set for TRIM_AFTER_IDLE_S from now (made then if no query ran meanwhile), never on
        the event loop (it can take milliseconds after a big query)."""
        with self._trim_lock:
            self._left_at = time.monotonic()
            if not self._threaded or self._trim_due:
                return
            loop = self._loop  # where the trim is set (None: no query came through `query`)
            if loop is None:
                self._threaded = False
            else:
                self._trim_due = True
        if loop is None:
            self.threads.submit(give_back)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
                loop.call_soon_threadsafe(loop.call_later, TRIM_AFTER_IDLE_S, self._trim_if_idle)

    def _trim_if_idle(self) -> None:
        """The trim `_idle` set (on the event loop): made now if no query ran for
        TRIM_AFTER_IDLE_S; set again for then if one left since; left to the last of them to
        set if queries run."""
        with self._trim_lock:
            self._trim_due = False
            if self.queries.held:
                return
            wait = self._left_at + TRIM_AFTER_IDLE_S - time.monotonic()
            if wait > 0:
                self._trim_due = True
            else:
                self._threaded = False
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self._trim_if_idle)
        else:
            self.threads.submit(give_back)

    def _answer(self, prepared: PreparedQuery, deadline: Deadline) -> _Answer:
        """The answer made inline when block counts make it with little, bounded work (see
        engine.query.quick), else on the query threads."""
        whole = quick_answer(prepared, self.catalog, deadline)
        if whole is not None:
            return _Answer(_with_last(iter([_encode_lines(chunk) for chunk in whole])), None)
        self._threaded = True
        return _Answer(self._ndjson(prepared, deadline), self.threads)

    def _ndjson(self, prepared: PreparedQuery, deadline: Deadline) -> Generator[Step, None, None]:
        """The answer's lines, chunk by chunk, each with whether it is the last; planning happens
        on the first step, in a thread."""
        with contextlib.closing(prepared.chunks(self.catalog, deadline)) as chunks:
            if prepared.aggregating:
                yield from _with_last(_encode_lines(chunk) for chunk in chunks)
                return
            # Rows: reading ahead would wait for the blocks read in advance, so the end is known
            # only at the limit, or from one more step.
            sent = 0
            for chunk in chunks:
                sent += len(chunk)
                yield _encode_lines(chunk), sent == prepared.limit
            yield None, True

    async def query(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        self._loop = asyncio.get_running_loop()
        try:
            params = await read_params(request, QUERY_PARAMS)
            start, end = time_range(params)
            prepared = prepare(
                params.get("q", "*") or "*",
                start,
                end,
                requested_limit(params.get("limit"), self.limits.max_rows_limit),
                default_limit=self.limits.max_rows,
                max_groups=self.limits.max_groups,
            )
        except (BadParam, LimitParamError) as exc:
            return _error(str(exc), None)
        except QueryError as exc:
            return _error(exc.message, exc.position)
        if not self.queries.try_enter():
            return _error(
                f"too many queries at once: {self.queries.capacity} are running (query.max_concurrent); "
                f"retry in {RETRY_AFTER_S} s",
                None,
                429,
                retry_after=True,
            )
        deadline = Deadline(self.limits.timeout.seconds, started)
        try:
            answer = self._answer(prepared, deadline)
        except Exception as exc:  # noqa: BLE001 - answered as a failing threaded run would be
            self.queries.leave()
            if self.duration is not None:
                self.duration.observe(time.monotonic() - started)
            return _error(*_failure(exc, prepared))
        try:
            return await self._stream(request, prepared, answer, deadline)
        finally:
            answer.close(then=self.queries.leave)
            if self.duration is not None:
                self.duration.observe(time.monotonic() - started)

    async def _stream(
        self, request: web.Request, prepared: PreparedQuery, answer: _Answer, deadline: Deadline
    ) -> web.StreamResponse:
        """Status and headers wait for the first chunk, so that a query failing before it
        answers with a JSON error and a status saying why; after it, errors end the stream."""
        budget = ResponseBudget(self.limits.max_response_bytes.bytes)
        resp: web.StreamResponse | None = None
        try:
            while True:
                failure: tuple[str, int | None, int] | None = None  # (message, position, status)
                data: bytes | None = None
                last = False
                try:
                    data, last = await answer.next(deadline)
                except Exception as exc:  # noqa: BLE001 - each kind has its status
                    failure = _failure(exc, prepared)
                if data is not None:
                    data, cut = budget.take(data)
                    if cut:
                        failure = (budget.error(), None, 400)
                if resp is None:
                    if failure is not None and not data:
                        return _error(*failure)
                    if last and failure is None and len(data or b"") <= PLAIN_MAX_BYTES:
                        # The whole answer, small: one write, no chunking.
                        return web.Response(body=data or b"", headers={"Content-Type": NDJSON})
                    resp = web.StreamResponse(headers={"Content-Type": NDJSON})
                    await resp.prepare(request)
                if data and not await _write(request, resp, data, deadline):
                    return resp
                if failure is not None:
                    await _write(request, resp, _error_body(*failure[:2]) + b"\n", deadline)
                    break
                if last:
                    break
            await resp.write_eof()
        except ConnectionError:
            # The client went away mid-answer (a closed tab, a killed curl): normal, not an
            # error. The query's generator is closed and its slot given back by `query`.
            log.debug("a query client went away mid-answer: %r", prepared.text)
            return resp if resp is not None else web.Response(status=499)
        return resp

    async def tail(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        try:
            params = await read_params(request, TAIL_PARAMS)
            prepared = prepare(params.get("q", "*") or "*")
        except BadParam as exc:
            return _error(str(exc), None)
        except QueryError as exc:
            return _error(exc.message, exc.position)
        if not self.tails.try_enter():
            return _error(
                f"too many live tails: {self.tails.capacity} are open (query.max_tails); retry later",
                None,
                429,
                retry_after=True,
            )
        try:
            try:
                tail = await loop.run_in_executor(self.tail_threads, Tail, self.data_dir, prepared)
            except QueryError as exc:
                return _error(exc.message, exc.position)
            return await self._follow(request, tail)
        finally:
            self.tails.leave()

    async def _follow(self, request: web.Request, tail: Tail) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        resp = web.StreamResponse(headers={"Content-Type": NDJSON})
        try:
            await resp.prepare(request)
            while not self.stopping.is_set():
                objs = await loop.run_in_executor(self.tail_threads, tail.poll)
                if objs:
                    await resp.write(_encode_lines(objs))
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                try:
                    await asyncio.wait_for(self.stopping.wait(), POLL_S)
                except asyncio.TimeoutError:
                    pass
            await resp.write_eof()
        except ConnectionError:  # the client went away: normal, its tail slot is given back
            log.debug("a tail client went away")
        return resp

    async def on_shutdown(self, app: web.Application) -> None:
        self.stopping.set()


def _failure(exc: Exception, prepared: PreparedQuery) -> tuple[str, int | None, int]:
    """(message, position, status) of what a query raised; called in its `except` block."""
    if isinstance(exc, QueryTimeout):
        failure: tuple[str, int | None, int] = (exc.message, None, 503)
    elif isinstance(exc, QueryError):
        failure = (exc.message, exc.position, 400)
    else:  # a damaged part, a bug: say so
        log.error("query %r failed", prepared.text, exc_info=exc)
        failure = (f"query failed: {exc}", None, 500)
    _drop_frames(exc)
    return failure


def _drop_frames(exc: BaseException | None) -> None:
    """Clear the locals of the frames an exception's traceback holds. They include the query's
    (its aggregation state: 100k groups when the group cap stopped it) and a frame that holds
    the exception again, a cycle only the garbage collector would free, much later."""
    if exc is not None:
        traceback.clear_frames(exc.__traceback__)


async def _write(request: web.Request, resp: web.StreamResponse, data: bytes, deadline: Deadline) -> bool:
    """Write within the query's time (at least WRITE_GRACE_S); a client that does not read that
    long is cut off (its connection closed, False), so it cannot hold a query slot."""
    try:
        await asyncio.wait_for(resp.write(data), max(deadline.left(), WRITE_GRACE_S))
    except TimeoutError:
        log.info("a query answer was not read within query.timeout: connection closed")
        if request.transport is not None:
            request.transport.abort()
        return False
    return True


def install(app: web.Application, settings: Settings, spec: WorkerSpec, shm: WorkerShm | None) -> QueryRoutes:
    """Add the query routes to the API app (called by engine.api.worker.build_app)."""
    from engine.query.warmup import warm_up

    warm_up()  # kernels compiled before the API worker reports ready
    heap.keep_freed(HEAP_MMAP_THRESHOLD, HEAP_TRIM_THRESHOLD)
    routes = QueryRoutes(settings.data_dir, settings.query, shm.metrics if shm is not None else None)
    app.router.add_route("GET", "/api/v1/query", routes.query)
    app.router.add_route("POST", "/api/v1/query", routes.query)
    app.router.add_get("/api/v1/tail", routes.tail)
    app.on_shutdown.append(routes.on_shutdown)
    return routes
