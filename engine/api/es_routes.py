"""Elasticsearch's ingest API under `/insert/elasticsearch/`: `_bulk` into the rings, and the
answers a shipper or an official client wants from a node before it sends anything.

- `GET /insert/elasticsearch/`: a node's root answer (version 8.x). Every answer here carries
  `X-Elastic-Product: Elasticsearch`: the official clients refuse a server without it.
- `POST|PUT /insert/elasticsearch/_bulk`, `/insert/elasticsearch/{index}/_bulk`: the documents
  of `index`/`create` actions are stored as JSON rows (`engine.api.es_bulk` reads the body);
  the answer is Elasticsearch's (`took`, `errors`, per-item `status`/`error`). A body that is
  not a bulk request is a 400 in Elasticsearch's error shape; full rings a 429 (what every
  shipper retries), a full disk a 503, both with Retry-After. `?msg_field=...` and the other
  field parameters (`engine.api.field_params`) work here too; Elasticsearch's own bulk
  parameters are accepted: `filter_path` trims the answer as shippers ask (`errors,items.*.status`),
  the others (`refresh`, `pipeline`, ...) have no effect.
- The probes shippers make at start (Filebeat and Logstash: `_license`, `_xpack`, index and
  component templates, `_ilm`, `_ingest`, `_nodes`, `_cluster`, data streams, aliases, creating
  an index) are answered with harmless success, so the shipper goes on to `_bulk`. Any other
  path is a 404 in Elasticsearch's words.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from aiohttp import web

from engine import __version__
from engine.api.es_bulk import BulkError, answer, plan_bulk, response_filter
from engine.api.field_params import FIELD_PARAMS, field_names_of
from engine.api.ingest_routes import Ingest
from engine.api.request_body import read_body
from engine.push.bodies import PushRefused
from engine.json_field_names import FieldNamesError

PREFIX = "/insert/elasticsearch"
# What the node says it is: a recent 8.x, which every 7.x/8.x shipper and client accepts.
ES_VERSION = "8.17.0"
PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
# Elasticsearch's own `_bulk` parameters (its REST spec, plus the common ones): accepted, no effect.
BULK_PARAMS = frozenset(
    {
        "filter_path",
        "pretty",
        "human",
        "error_trace",
        "refresh",
        "pipeline",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "require_alias",
        "require_data_stream",
        "list_executed_pipelines",
        "include_source_on_error",
        "_source",
        "_source_excludes",
        "_source_includes",
        "type",
    }
)
# First path segments of the start-up probes, and what each is answered (GET/HEAD; a write
# to any of them is acknowledged).
_PROBES: dict[str, Any] = {
    "_license": {
        "license": {
            "status": "active",
            "uid": "00000000-0000-0000-0000-000000000000",
            "type": "basic",
            "issue_date_in_millis": 0,
            "expiry_date_in_millis": 4102444800000,
            "max_nodes": 1000,
            "issued_to": "logjet",
            "issuer": "logjet",
            "start_date_in_millis": -1,
        }
    },
    "_xpack": {"build": {}, "license": {"mode": "basic", "status": "active", "type": "basic"}, "features": {}},
    "_ilm": {},
    "_index_template": {"index_templates": []},
    "_component_template": {"component_templates": []},
    "_template": {},
    "_ingest": {},
    "_nodes": {"_nodes": {"total": 1, "successful": 1, "failed": 0}, "cluster_name": "logjet", "nodes": {}},
    "_cluster": {"cluster_name": "logjet", "status": "green", "number_of_nodes": 1, "number_of_data_nodes": 1},
    "_data_stream": {"data_streams": []},
    "_alias": {},
    "_aliases": {},
    "_cat": [],
}
_ACKNOWLEDGED = {"acknowledged": True}
_encode = msgspec.json.Encoder().encode


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body),
        status=status,
        content_type="application/json",
        headers={**PRODUCT_HEADERS, **(headers or {})},
    )


def es_error(status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error in Elasticsearch's shape, which clients and shippers parse."""
    cause = {"type": kind, "reason": reason}
    return _json({"error": {"root_cause": [cause], **cause}, "status": status}, status, headers)


class ElasticsearchApi:
    """The routes' state: the shared ingest path, and the node's identity."""

    def __init__(self, ingest: Ingest):
        self.ingest = ingest
        self.cluster_uuid = uuid.uuid4().hex[:22]

    async def root(self, request: web.Request) -> web.Response:
        return _json(
            {
                "name": "logjet",
                "cluster_name": "logjet",
                "cluster_uuid": self.cluster_uuid,
                "version": {
                    "number": ES_VERSION,
                    "build_flavor": "default",
                    "build_type": "logjet",
                    "build_hash": __version__,
                    "build_date": "2024-12-11T12:08:05.663969764Z",
                    "build_snapshot": False,
                    "lucene_version": "9.12.0",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "You Know, for Search",
            }
        )

    async def probe(self, request: web.Request) -> web.Response:
        path = request.match_info.get("tail", "")
        parts = [p for p in path.split("/") if p]
        if request.method in ("POST", "PUT") and parts and parts[-1] == "_bulk" and len(parts) <= 2:
            # `Path /insert/elasticsearch/` in a shipper's config makes `...//_bulk`: still bulk.
            return await self.bulk(request, parts[0] if len(parts) == 2 else "")
        first = path.split("/", 1)[0]
        if first in _PROBES:
            if request.method in ("GET", "HEAD"):
                return _json(_PROBES[first])
            return _json(_ACKNOWLEDGED)
        if first and not first.startswith("_") and "/" not in path.rstrip("/"):
            # An index by name: creating it (Logstash's ILM bootstrap) or asking whether it exists.
            if request.method in ("PUT", "HEAD"):
                return _json({**_ACKNOWLEDGED, "shards_acknowledged": True, "index": first})
        return es_error(
            404 if request.method != "DELETE" else 400,
            "illegal_argument_exception",
            f"no handler found for uri [{request.path}] and method [{request.method}]: logjet takes logs "
            "over _bulk and answers only the probes shippers make at start",
        )

    async def bulk(self, request: web.Request, index: str | None = None) -> web.Response:
        started = time.monotonic()
        unknown = sorted(set(request.query) - BULK_PARAMS - set(FIELD_PARAMS))
        if unknown:
            reason = f"request [{request.path}] contains unrecognized parameter: [{unknown[0]}]"
            return es_error(400, "illegal_argument_exception", reason)
        try:
            field_names = field_names_of(request.query.items())
        except FieldNamesError as exc:
            return es_error(400, "illegal_argument_exception", str(exc))
        # What the shipper reads of the answer (Filebeat: errors, items.*.error, items.*.status).
        top, keep = response_filter(request.query["filter_path"]) if "filter_path" in request.query else (None, None)
        try:
            body = (await read_body(request, self.ingest.max_body)).data
        except PushRefused as exc:
            kind = "content_too_long_exception" if exc.status == 413 else "parse_exception"
            return es_error(exc.status, kind, str(exc))
        ingest = self.ingest
        try:
            url_index = request.match_info.get("index", "") if index is None else index
            plan = plan_bulk(body, ingest.max_len, url_index, keep)
        except BulkError as exc:
            # Nothing of the body is stored: its lines are counted, halved (action + document).
            ingest.refused(max(1, (body.count(b"\n") + 1) // 2))
            return es_error(400, "illegal_argument_exception", str(exc))
        refusal = await ingest.put(request, body, plan.starts, plan.ends, plan.flags, field_names)
        if refusal is not None:
            # Elasticsearch's own words: 429 for a node too busy (every shipper retries it).
            status, kind = (429, "es_rejected_execution_exception")
            if refusal.disk_full:
                status, kind = 503, "cluster_block_exception"
            return es_error(status, kind, refusal.message, {"Retry-After": str(refusal.retry_after)})
        ingest.refused(plan.errors)
        ingest.m_bytes.inc(len(body))
        took = int((time.monotonic() - started) * 1000)
        return web.Response(body=answer(plan, took, top), content_type="application/json", headers=PRODUCT_HEADERS)


def routes(api: ElasticsearchApi) -> list[web.RouteDef]:
    """The routes, most specific first (aiohttp tries them in order)."""
    out = []
    for path in (PREFIX + "/_bulk", PREFIX + "/{index}/_bulk"):
        out += [web.post(path, api.bulk), web.put(path, api.bulk)]
    for path in (PREFIX, PREFIX + "/"):
        out.append(web.get(path, api.root))  # HEAD too: aiohttp adds it to a GET
    tail = PREFIX + "/{tail:.+}"
    out += [web.get(tail, api.probe), web.put(tail, api.probe), web.post(tail, api.probe), web.delete(tail, api.probe)]
    return out
