#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need, from nothing: the venv, the pinned
# Python packages, and (from Debian, when missing) Prometheus, Alertmanager and a Java 17 runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing from Debian: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # the Debian package starts services we do not want; ours are started per test / demo
    for svc in prometheus prometheus-node-exporter prometheus-alertmanager; do
      (command -v systemctl >/dev/null && systemctl stop "$svc") >/dev/null 2>&1 || true
      pkill -x "$svc" >/dev/null 2>&1 || true
    done
  else
    echo "bootstrap: missing ${need_apt[*]}: install them (e.g. sudo apt-get install ${need_apt[*]})" >&2
    echo "bootstrap: integration tests that need them will fail" >&2
  fi
fi

stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] \
   || [ action-requirements.txt -nt "$stamp" ]; then
  echo "bootstrap: installing pinned Python packages into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt \
     -r action-requirements.txt -e ".[dev]" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import pyspark, mlflow, ml_actions" # fail loudly if the install did not work
  touch "$stamp"
fi
echo "bootstrap: ready ($("$VENV/bin/python" --version), $(java -version 2>&1 | head -1))"
