# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(abspath $(PY))

.PHONY: setup test test-fast lint demo bench clean

setup:
	@bash scripts/bootstrap.sh

# Two workers, one test file each at a time (module fixtures such as the e2e stack start once):
# most end-to-end time is spent waiting on looks and scrapes, so two files overlap well.
test: setup
	$(PY) -m pytest -q -ra -n 2 --dist loadfile --durations=25 --cov --cov-report=term \
		--cov-report=xml --cov-fail-under=80

test-fast: setup
	$(PY) -m pytest -q -m "not integration"

lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

demo: setup
	$(PY) -m demo

clean:
	rm -rf $(VENV) .pytest_cache .coverage coverage.xml mlruns spark-warehouse demo-output
