"""Every case of the shipped benchmark suites (bench/suites/*.toml) parses with `logjet bench`'s
own argument parser, as `bench suite` parses them before running anything."""

from __future__ import annotations

import pathlib
import tomllib

import pytest

from bench.arguments import bench_parser
from bench.suite import case_argv

SUITES = sorted((pathlib.Path(__file__).parents[2] / "bench" / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.name for p in SUITES])
def test_suite_cases_parse(path: pathlib.Path) -> None:
    suite = tomllib.loads(path.read_text())
    assert suite["case"], "a suite declares cases"
    for case in suite["case"]:
        argv = case_argv(case)
        assert argv[:2] == ["bench", case["bench"]]
        args = bench_parser().parse_args([*argv[1:], "--out", "results"])
        assert (args.bench, args.out) == (case["bench"], "results")
