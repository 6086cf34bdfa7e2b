"""`logjet bench ingest` with API auth and HTTPS: the auth target's files, the comparison, and
real runs against engines that require a token (started by the bench, or running at --url)."""

from __future__ import annotations

import json
import os
import tomllib
from argparse import Namespace

import pytest

from bench import auth_cost, variants
from bench.http_access import HttpAccess
from bench.engine import EngineProcess
from engine.auth.tokens import load_auth_file, new_token, verify_secret
from engine.cli import main
from engine.config import load


def _args(**kw) -> Namespace:
    base = {"alert_rules": None, "url": None, "seed": 42, "proto": "http", "with_auth": False, "http_tls": False}
    return Namespace(**{**base, **kw})


def test_auth_target_requires_tokens_and_sends_one_with_the_ingest_role(tmp_path):
    specs = variants.logjet_specs(_args(with_auth=True), str(tmp_path), ["--parsers", "1"])
    assert [s.name for s in specs] == ["logjet", variants.AUTH_TARGET]
    plain, auth = specs
    assert plain.engine_args == ["--parsers", "1"] and plain.access == HttpAccess()
    args = auth.engine_args
    config = load(args[args.index("--config") + 1])
    assert config.auth.anonymous == "none"
    assert args[args.index("--parsers") + 1] == "1"  # the run's own arguments, as the plain target's
    auth_file = args[args.index("--auth-file") + 1]
    assert os.stat(auth_file).st_mode & 0o777 == 0o600
    [entry] = load_auth_file(auth_file)
    assert [r.value for r in entry.roles] == ["ingest"]
    name, _, secret = auth.access.token.partition(".")
    assert name == entry.name == variants.AUTH_TOKEN_NAME and verify_secret(secret, entry.hash)
    assert auth.access.headers() == {"Authorization": f"Bearer {auth.access.token}"}
    assert not auth.access.tls


def test_url_target_takes_its_token_and_ca_from_the_arguments_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGJET_TOKEN", "from-env")
    [spec] = variants.logjet_specs(_args(url="https://127.0.0.1:9", token=None, ca_file="ca.pem"), str(tmp_path), [])
    assert spec.access == HttpAccess(tls=True, ca_file="ca.pem", token="from-env")
    [spec] = variants.logjet_specs(_args(url="http://127.0.0.1:9", token="given", ca_file=None), str(tmp_path), [])
    assert spec.access == HttpAccess(tls=False, ca_file="", token="given")
    for extra in ({"with_auth": True}, {"http_tls": True}, {"alert_rules": [10]}):
        with pytest.raises(SystemExit, match="not --url"):
            variants.logjet_specs(_args(url="http://127.0.0.1:9", token=None, ca_file=None, **extra), str(tmp_path), [])


def test_auth_summary_compares_with_the_plain_engine_per_repeat():
    runs = {
        "logjet": [{"msgs_per_s": 100.0, "cpu_s_per_million": 2.0}, {"msgs_per_s": 120.0, "cpu_s_per_million": 2.0}],
        variants.AUTH_TARGET: [
            {"msgs_per_s": 98.0, "cpu_s_per_million": 2.1},
            {"msgs_per_s": 108.0, "cpu_s_per_million": 2.1},
        ],
    }
    targets = {
        "logjet": {"msgs_per_s": 110.0, "cpu_s_per_million": 2.0},
        variants.AUTH_TARGET: {"msgs_per_s": 103.0, "cpu_s_per_million": 2.1},
    }
    s = auth_cost.summarize(runs, targets)
    assert s["ratio"] == 0.936 and s["cost_pct"] == 6.4 and s["paired_ratios"] == [0.98, 0.9]
    assert s["paired_median"] == 0.94 and s["cpu_ratio"] == 1.05
    table = "\n".join(auth_cost.markdown(s))
    assert "| 110 | 103 | **0.936** | 0.980, 0.900 | 1.050 |" in table and "missed (+6.4%)" in table
    assert auth_cost.summarize({"logjet": []}, {"logjet": targets["logjet"]}) == {}


@pytest.mark.e2e
def test_bench_ingest_http_with_auth_over_https_stores_everything_on_both_targets(tmp_path):
    out = tmp_path / "results"
    code = main(
        ["bench", "ingest", "--proto", "http", "--messages", "20000", "--with-auth", "--http-tls"]
        + ["--senders", "2", "--warmup", "1000", "--quiet", "--out", str(out)]
    )
    assert code == 0
    [result_path] = out.glob("ingest-http-*.json")
    result = json.loads(result_path.read_text())
    assert result["config"]["with_auth"] and result["config"]["http_tls"]
    for name in ("logjet", variants.AUTH_TARGET):
        [run] = result["runs"][name]
        assert run["outcome"] == "complete" and run["stored"] == run["sent"] == 20000, name
        assert run["send_errors"] == 0 and run["sender_failures"] == []
    s = result["summary"]["auth"]
    assert s["ratio"] == round(s["msgs_per_s"] / s["base_msgs_per_s"], 3) > 0
    assert result["summary"]["ratio_logjet_to"] == {}  # the auth target is not a peer


@pytest.mark.e2e
def test_bench_against_a_running_engine_that_requires_tokens(tmp_path):
    token, entry = new_token("loader", ["ingest"])
    auth_file = tmp_path / "auth.toml"
    auth_file.write_text(entry)
    config = tmp_path / "logjet.toml"
    config.write_text('[auth]\nanonymous = "none"\n')
    engine = EngineProcess(str(tmp_path / "data"), "--auth-file", str(auth_file), "--config", str(config))
    with engine:
        _bench_with_and_without_the_token(engine, token, tmp_path)
    assert tomllib.loads(entry)["token"][0]["roles"] == ["ingest"]


def _bench_with_and_without_the_token(engine: EngineProcess, token: str, tmp_path) -> None:
    common = ["bench", "ingest", "--proto", "http", "--url", engine.url, "--senders", "1", "--quiet"]
    common += ["--warmup", "500", "--out", str(tmp_path / "results")]
    # Without the token every request is refused: the bench says so, no traceback.
    with pytest.raises(SystemExit, match="refused the load: HTTP 401"):
        main([*common, "--messages", "2000"])
    assert main([*common, "--messages", "5000", "--token", token]) == 0
    [result_path] = (tmp_path / "results").glob("ingest-http-*.json")
    [run] = json.loads(result_path.read_text())["runs"]["logjet"]
    assert run["outcome"] == "complete" and run["stored"] == run["sent"] == 5000
