# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(abspath $(PY))

.PHONY: setup test test-fast lint demo bench clean

setup:
	@bash scripts/bootstrap.sh

test: setup
	$(PY) -m pytest -q -ra --durations=15 --cov --cov-report=term --cov-report=xml --cov-fail-under=80

test-fast: setup
	$(PY) -m pytest -q -m "not integration"

lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

demo: setup
	$(PY) -m demo

clean:
	rm -rf $(VENV) .pytest_cache .coverage coverage.xml mlruns spark-warehouse demo-output
