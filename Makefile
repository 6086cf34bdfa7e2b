# Two commands matter: `make run` and `make test` (see README). Everything else is for developers.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: run test test-fast bench bench-kernels bench-suite lint screenshots proto clean

# A venv; on Debian without python3-venv, `venv` lacks ensurepip, so fall back to get-pip.
$(PY):
	$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv --without-pip $(VENV) && \
	  $(PYTHON) -c "import urllib.request; urllib.request.urlretrieve('https://bootstrap.pypa.io/get-pip.py', '$(VENV)/get-pip.py')" && \
	  $(PY) $(VENV)/get-pip.py -q; }

$(VENV)/.installed: $(PY) pyproject.toml setup.py
	$(PIP) install -q -e '.[test,bench]'
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/logjet serve

# The real syslog senders the e2e tests drive (rsyslog, syslog-ng, logger): installed when run as
# root, else a one-line note and those tests skip. The suite runs in TEST_WORKERS pytest-xdist
# processes: most end-to-end tests wait on an engine (starting, draining, making rows visible),
# so two share two cores well (9 min instead of 15 on the 2-core VM); TEST_WORKERS=0 runs it in
# one process.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	@.ci/install-senders
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# The fast tier: unit and property tests in this one process, under a minute on 2 cores once the
# numba cache is warm (the first run after a kernel edit compiles for a few minutes). It leaves out
# the tests marked `e2e` (they start `logjet serve`) and `slow` (other processes, big property
# runs, whole-corpus checks, microbenchmarks); `make test` runs those too.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not e2e and not slow"

# Static checks, configured in pyproject.toml: ruff (pycodestyle + pyflakes, and the formatter
# in check mode: `ruff format .` fixes what it reports) and mypy (strict; [tool.mypy] names the
# folders it checks, engine/ and native_kernels/).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(VENV)/bin/logjet bench ingest --messages 1000000 --proto tcp

# Kernel microbenchmarks (pytest-benchmark); the JSON lands beside the other bench results.
bench-kernels: $(VENV)/.installed
	mkdir -p bench/results
	$(PY) -m pytest -q tests/bench --benchmark-enable --benchmark-only \
	  --benchmark-columns=min,median,mean,stddev,rounds --benchmark-json=bench/results/kernels.json

# Every case behind BENCHMARKS.md (about half an hour on 2 cores; see BENCHMARKS.md).
bench-suite: $(VENV)/.installed
	$(VENV)/bin/logjet bench suite bench/suites/benchmarks.toml

# The web UI's screenshots in the README (docs/img/ui-*.png), taken by its browser test.
screenshots: $(VENV)/.installed
	@.ci/install-senders
	LOGJET_UI_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/e2e/test_web_ui.py

# Loki's push.proto → engine/push/proto/push_pb2.py and .pyi, with protoc from PyPI (grpcio-tools,
# in the test extras). Commit the output: the engine imports it, and protoc is not needed to run.
proto: $(VENV)/.installed
	$(PY) -m grpc_tools.protoc -I engine/push/proto --python_out=engine/push/proto \
	  --pyi_out=engine/push/proto engine/push/proto/push.proto

clean:
	rm -rf $(VENV) build *.egg-info
