"""End to end: shippers' JSON into a real `logjet serve`: Elasticsearch `_bulk` through the
official `elasticsearch` client (`helpers.bulk`) and as Filebeat, Fluent Bit and VictoriaLogs
shape their documents, gzip bodies, per-item errors, bad input, the start-up probes, and the
JSON field mapping of `/api/v1/ingest` (built-in names, `?msg_field=...`, config keys).

Each test tags its rows with a field `t=<test>` so that the tests can share one engine.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.e2e.clients import all_rows, column_values, field_column, messages, metric, wait_until

elasticsearch = pytest.importorskip("elasticsearch", reason="the test extra installs the elasticsearch client")
from elasticsearch import helpers  # noqa: E402

pytestmark = pytest.mark.e2e

ES = "/insert/elasticsearch"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
NOW_NS = int(NOW.timestamp()) * 10**9


def _request(url: str, body: bytes | None = None, method: str = "POST", headers: dict | None = None):
    """(status, headers, parsed JSON body or None) of one request; errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        raw, status, hdrs = exc.read(), exc.code, exc.headers
    is_json = "json" in (hdrs.get("Content-Type") or "")
    return status, hdrs, (json.loads(raw) if raw and is_json and method != "HEAD" else raw)


def _ndjson(objs) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


def _tagged(engine, tag: str, n: int, timeout: float = 60.0):
    """The stored rows whose field t is `tag`, once there are `n` of them."""

    def ready():
        rows = all_rows(engine.data_dir)
        keep = [i for i, t in enumerate(field_column(rows, b"t")) if t == tag.encode()]
        return rows.take(np.asarray(keep, np.int64)) if len(keep) >= n else None

    return wait_until(ready, timeout, f"{n} rows tagged t={tag}")


def _filebeat_doc(i: int) -> dict:
    """A document as Filebeat 8 sends it (ECS: nested host, log, agent, ecs objects)."""
    return {
        "@timestamp": (NOW + dt.timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
        "log": {"level": ["info", "warn", "error"][i % 3], "file": {"path": "/var/log/app.log"}, "offset": i * 100},
        "message": f"GET /api/items/{i} 200 seq={i}",
        "input": {"type": "filestream"},
        "ecs": {"version": "8.0.0"},
        "host": {"name": f"web-{i % 4}", "os": {"family": "debian"}},
        "agent": {"type": "filebeat", "version": "8.17.0"},
        "service": {"name": "shop"},
        "t": "filebeat",
    }


def test_official_client_bulk_filebeat_shaped(shared_engine):
    """The official client accepts logjet as a node (product header, version check) and
    `helpers.bulk` stores every document, ECS fields mapped to the row's columns."""
    es = elasticsearch.Elasticsearch(shared_engine.url + ES, request_timeout=60)
    info = es.info()
    assert info["version"]["number"].startswith("8.") and info["tagline"] == "You Know, for Search"
    n = 3000
    ok, errors = helpers.bulk(
        es, ({"_index": "filebeat-8.17.0", "_op_type": "create", "_source": _filebeat_doc(i)} for i in range(n))
    )
    assert (ok, errors) == (n, [])
    rows = _tagged(shared_engine, "filebeat", n)
    assert len(rows) == n
    seqs = [int(m.rsplit(b"seq=", 1)[1]) for m in messages(rows)]
    assert sorted(seqs) == list(range(n))
    hosts, apps = column_values(rows, "host"), column_values(rows, "app")
    paths, agents = field_column(rows, b"log.file.path"), field_column(rows, b"agent.type")
    offsets, levels = field_column(rows, b"log.offset"), field_column(rows, b"log.level")
    for r, i in enumerate(seqs):
        assert hosts[r] == f"web-{i % 4}".encode() and apps[r] == b"shop"
        assert int(rows.severity[r]) == [6, 4, 3][i % 3]
        assert int(rows.time[r]) == NOW_NS + i * 10**6
        assert paths[r] == b"/var/log/app.log" and agents[r] == b"filebeat" and offsets[r] == str(i * 100).encode()
        assert levels[r] is None  # moved into the severity column, not kept twice
    assert set(field_column(rows, b"host.os.family")) == {b"debian"}
    assert set(field_column(rows, b"host.name")) == {None}


def test_fluent_bit_and_victorialogs_shapes_gzip(shared_engine):
    """Fluent Bit's es output (`log`, `date` as epoch float, gzip) and VictoriaLogs' shape
    (`_msg`, `_time`), in one bulk body sent gzip-compressed to an index's own path."""
    epoch = NOW.timestamp()
    docs = [
        {"date": epoch + i / 4, "log": f"fluent line {i}", "kubernetes": {"pod": f"p{i}"}, "t": "fb"} for i in range(8)
    ]
    docs += [{"_time": f"{NOW.isoformat()}", "_msg": f"victoria line {i}", "t": "fb"} for i in range(4)]
    docs += [{"_time": str(int(epoch)), "_msg": "victoria epoch string", "t": "fb"}]
    body = b"".join(b'{"create":{"_index":"fluent-bit"}}\n' + _ndjson([d]) for d in docs)
    status, hdrs, reply = _request(
        shared_engine.url + ES + "/fluent-bit/_bulk",
        gzip.compress(body),
        headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert status == 200 and hdrs["X-Elastic-Product"] == "Elasticsearch"
    assert reply["errors"] is False and isinstance(reply["took"], int)
    assert [it["create"]["status"] for it in reply["items"]] == [201] * len(docs)
    assert {it["create"]["_index"] for it in reply["items"]} == {"fluent-bit"}
    rows = _tagged(shared_engine, "fb", len(docs))
    by_msg = dict(zip(messages(rows), rows.time.tolist()))
    for i in range(8):
        assert by_msg[f"fluent line {i}".encode()] == int(epoch) * 10**9 + i * 250_000_000
    for i in range(4):
        assert by_msg[f"victoria line {i}".encode()] == NOW_NS
    assert by_msg[b"victoria epoch string"] == NOW_NS
    assert set(field_column(rows, b"kubernetes.pod")) >= {b"p0", b"p7"}


def test_per_item_errors_and_unsupported_actions(shared_engine):
    """A shipper is told item by item what failed: `update`/`delete` and a document that is not
    an object get 400 in the item, the rest is stored, and the refused ones are counted."""
    before = metric(shared_engine.url, "logjet_dropped_messages_total", reason="bad_request")
    body = b"".join(
        [
            b'{"index":{"_index":"app","_id":"a1"}}\n{"message":"kept one","t":"items"}\n',
            b'{"delete":{"_index":"app","_id":"x"}}\n',
            b'{"update":{"_index":"app","_id":"y"}}\n{"doc":{"message":"edited"}}\n',
            b'{"create":{"_index":"app"}}\n"just a string"\n',
            b'{"create":{"_index":"app"}}\n[1,2,3]\n',
            b"\n",  # a blank line between items is skipped
            b'{"create":{}}\n{"message":"kept two","t":"items"}\n',
        ]
    )
    status, _, reply = _request(shared_engine.url + ES + "/_bulk", body, headers={"Content-Type": "application/json"})
    assert status == 200 and reply["errors"] is True
    got = [
        (kind, item["status"], item.get("error", {}).get("type")) for it in reply["items"] for kind, item in it.items()
    ]
    assert got == [
        ("index", 201, None),
        ("delete", 400, "illegal_argument_exception"),
        ("update", 400, "illegal_argument_exception"),
        ("create", 400, "document_parsing_exception"),
        ("create", 400, "document_parsing_exception"),
        ("create", 201, None),
    ]
    assert reply["items"][0]["index"]["_id"] == "a1"
    assert "[7:1]" in reply["items"][3]["create"]["error"]["reason"]  # line 7 of the body
    rows = _tagged(shared_engine, "items", 2)
    assert sorted(messages(rows)) == [b"kept one", b"kept two"]
    assert metric(shared_engine.url, "logjet_dropped_messages_total", reason="bad_request") - before == 4


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"", "no requests added"),
        (b"not json\n{}\n", "line [1]"),
        (b'{"create":{}}\n{"message":"a"}\n{"upsert":{}}\n{}\n', "found [upsert]"),
        (b'{"create":{},"index":{}}\n{}\n', "one action"),
        (b'{"create":"x"}\n{}\n', "expected an object"),
        (b'{"create":{}}\n', "has no document"),
    ],
)
def test_bodies_that_are_not_bulk_requests_are_400(shared_engine, body, needle):
    before = metric(shared_engine.url, "logjet_written_rows_total")
    status, hdrs, reply = _request(shared_engine.url + ES + "/_bulk", body)
    assert status == 400 and hdrs["X-Elastic-Product"] == "Elasticsearch"
    assert reply["status"] == 400 and needle in reply["error"]["reason"], reply
    assert reply["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    assert metric(shared_engine.url, "logjet_written_rows_total") == before


def test_bad_parameters_sizes_and_bombs(shared_engine):
    url = shared_engine.url + ES + "/_bulk"
    ok = b'{"create":{}}\n{"message":"p","t":"params"}\n'
    status, _, reply = _request(url + "?filter_path=errors,items.*.status&refresh=false&pipeline=x", ok)
    assert status == 200 and reply["errors"] is False
    # A shipper configured with a trailing slash on the path sends `...//_bulk`.
    for path in ("//_bulk", "//myindex/_bulk"):
        status, _, reply = _request(shared_engine.url + ES + path, ok)
        assert status == 200 and reply["errors"] is False, (path, reply)
    status, _, reply = _request(url + "?frobnicate=1", ok)
    assert status == 400 and "unrecognized parameter: [frobnicate]" in reply["error"]["reason"]
    status, _, reply = _request(url + "?msg_field=a..b", ok)
    assert status == 400 and "msg_field" in reply["error"]["reason"]
    # 70 MiB of zeros, gzip-compressed to ~70 KiB: over ingest.http_max_body once inflated.
    bomb = gzip.compress(b'{"create":{}}\n{"message":"' + b"0" * (70 << 20) + b'"}\n')
    status, _, reply = _request(url, bomb, headers={"Content-Encoding": "gzip"})
    assert status == 413 and reply["error"]["type"] == "content_too_long_exception", reply
    status, _, reply = _request(url, b"\x1f\x8b not gzip at all", headers={"Content-Encoding": "gzip"})
    assert status == 400, (status, reply)
    restarts = metric(shared_engine.url, "logjet_worker_restarts_total")
    status, _, reply = _request(url, ok)
    assert status == 200 and metric(shared_engine.url, "logjet_worker_restarts_total") == restarts


def test_start_up_probes_are_answered_harmlessly(shared_engine):
    base = shared_engine.url + ES
    for method, path, body in [
        ("GET", "", None),
        ("HEAD", "/", None),
        ("GET", "/_license?human=false", None),
        ("GET", "/_xpack", None),
        ("HEAD", "/_index_template/filebeat-8.17.0", None),
        ("PUT", "/_index_template/filebeat-8.17.0", b'{"index_patterns":["filebeat-*"]}'),
        ("GET", "/_ilm/policy/filebeat", None),
        ("PUT", "/_ilm/policy/filebeat", b'{"policy":{}}'),
        ("PUT", "/_ingest/pipeline/p", b"{}"),
        ("GET", "/_nodes/_local?filter_path=nodes.*.version", None),
        ("GET", "/_cluster/health", None),
        ("HEAD", "/_alias/logstash", None),
        ("PUT", "/logstash-000001", b'{"aliases":{}}'),
    ]:
        status, hdrs, _ = _request(base + path, body, method)
        assert status == 200, (method, path, status)
        assert hdrs["X-Elastic-Product"] == "Elasticsearch", (method, path)
    status, _, reply = _request(base + "/_license", method="GET")
    assert reply["license"]["status"] == "active"
    status, hdrs, reply = _request(base + "/myindex/_search", b"{}", "POST")
    assert status == 404 and "no handler found" in reply["error"]["reason"]


def test_ingest_takes_other_shapes_and_named_fields(shared_engine):
    """`/api/v1/ingest` maps Fluent Bit's and VictoriaLogs' names by itself, and any other shape
    by `?msg_field=...&time_field=...&host_field=...&app_field=...&severity_field=...`."""
    url = shared_engine.url + "/api/v1/ingest"
    epoch = NOW.timestamp()
    plain = [
        {"date": epoch, "log": "fluent bit shape", "t": "shapes"},
        {"_time": NOW.isoformat(), "_msg": "victorialogs shape", "t": "shapes"},
        {"time": NOW.isoformat(), "msg": "own shape wins", "log": "stays a field", "t": "shapes"},
    ]
    status, _, reply = _request(url, _ndjson(plain))
    assert (status, reply) == (200, {"accepted": 3})
    custom = [
        {
            "text": f"custom shape {i}",
            "ts": int(epoch) * 1000 + i,
            "origin": {"name": "edge-7"},
            "svc": "router",
            "lvl": "warning",
            "message": "a message field the request overrides",
            "t": "shapes",
        }
        for i in range(3)
    ]
    query = "?msg_field=text&time_field=ts&host_field=origin.name&app_field=svc&severity_field=lvl"
    status, _, reply = _request(url + query, _ndjson(custom))
    assert (status, reply) == (200, {"accepted": 3})
    status, _, reply = _request(url + "?_msg_field=missing,text", _ndjson([{"text": "victoria param", "t": "shapes"}]))
    assert (status, reply) == (200, {"accepted": 1})
    rows = _tagged(shared_engine, "shapes", 7)
    msgs = messages(rows)
    row = {m: r for r, m in enumerate(msgs)}
    assert rows.time[row[b"fluent bit shape"]] == int(epoch) * 10**9
    assert rows.time[row[b"victorialogs shape"]] == NOW_NS
    assert field_column(rows, b"log")[row[b"own shape wins"]] == b"stays a field"
    hosts, apps, overridden = column_values(rows, "host"), column_values(rows, "app"), field_column(rows, b"message")
    for i in range(3):
        r = row[f"custom shape {i}".encode()]
        assert rows.time[r] == (int(epoch) * 1000 + i) * 10**6
        assert (hosts[r], apps[r], int(rows.severity[r])) == (b"edge-7", b"router", 4)
        assert overridden[r] == b"a message field the request overrides"
    assert b"victoria param" in row
    for bad, needle in [("?msg_field=", None), ("?msg_field=.x", "msg_field"), ("?stream_fields=a", "stream_fields")]:
        status, _, reply = _request(url + bad, _ndjson([{"msg": "x", "t": "bad-param"}]))
        if needle is None:  # an empty list names nothing: the built-in names apply
            assert status == 200
        else:
            assert status == 400 and needle in reply["error"]


def test_configured_field_names(start_engine, tmp_path):
    config = tmp_path / "fields.toml"
    config.write_text('[parse]\njson_msg_fields = ["body.text"]\njson_host_fields = ["node"]\n')
    engine = start_engine("--config", str(config), name="fields")
    doc = {"body": {"text": "configured message", "len": 18}, "node": "n1", "message": "not this", "t": "cfg"}
    status, _, reply = _request(engine.url + ES + "/_bulk", b'{"index":{}}\n' + _ndjson([doc]))
    assert status == 200 and reply["errors"] is False
    status, _, _ = _request(engine.url + "/api/v1/ingest?msg_field=message", _ndjson([doc]))
    assert status == 200
    rows = _tagged(engine, "cfg", 2)
    assert sorted(messages(rows)) == [b"configured message", b"not this"]
    assert set(column_values(rows, "host")) == {b"n1"}
    assert set(field_column(rows, b"body.len")) == {b"18"}

    bad = tmp_path / "bad.toml"
    bad.write_text('[parse]\njson_time_fields = ["a..b"]\n')
    with pytest.raises(RuntimeError, match="json_time_fields"):
        start_engine("--config", str(bad), name="badfields")


def test_official_client_with_a_token_as_basic_auth_password(start_engine, tmp_path):
    """With tokens required everywhere, a shipper's one credential (basic auth, the token as
    password) opens the node's answers and `_bulk`; none is a 401, a token without `ingest` a 403."""
    from engine.auth.tokens import new_token

    token, entry = new_token("filebeat", ["ingest"])
    reader, reader_entry = new_token("grafana", ["query"])
    auth = tmp_path / "auth.toml"
    auth.write_text(entry + "\n" + reader_entry)
    config = tmp_path / "auth-config.toml"
    config.write_text('[auth]\nanonymous = "none"\n')
    engine = start_engine("--auth-file", str(auth), "--config", str(config), name="esauth")
    es = elasticsearch.Elasticsearch(engine.url + ES, basic_auth=("filebeat", token), request_timeout=60)
    assert es.info()["version"]["number"].startswith("8.")
    assert helpers.bulk(es, ({"_index": "a", "message": f"authed {i}", "t": "auth"} for i in range(10))) == (10, [])
    with pytest.raises(elasticsearch.AuthenticationException):
        elasticsearch.Elasticsearch(engine.url + ES, request_timeout=60).info()
    status, _, _ = _request(
        engine.url + ES + "/_bulk", b'{"create":{}}\n{"message":"no"}\n', headers={"Authorization": f"Bearer {reader}"}
    )
    assert status == 403
    assert len(_tagged(engine, "auth", 10)) == 10
