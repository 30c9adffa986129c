"""The shipped Prometheus config is valid and the dashboard only queries metrics we export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ml_actions.serving.gateway_metrics import GatewayMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def exported_names() -> set[str]:
    metrics = GatewayMetrics()
    metrics.observe_request("stable", "1", 200, 0.01)
    metrics.observe_scores("stable", "1", [0.1, 0.9], 0.5)
    metrics.batch_size.observe(2)
    metrics.set_slots({"stable": 100.0}, {"stable": ("m", "1")})
    metrics.set_rollout("m", "progressing", 5, [("psi", 0.1, "<=0.2")])
    text = metrics.exposition()[0].decode()
    return set(re.findall(r"^(\w+)[{ ]", text, flags=re.M))


def test_dashboard_queries_only_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana" / "ml-gateway-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\b(ml_(?:gateway|actions)_\w+)", e)}
    exported = exported_names()
    assert used and used <= exported, used - exported
    assert {"ml_gateway_requests_total", "ml_gateway_fraud_score_bucket",
            "ml_gateway_decisions_total", "ml_gateway_model_info"} <= used


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_prometheus_config_is_valid():
    result = subprocess.run(["promtool", "check", "config", "--syntax-only",
                             str(DEPLOY / "prometheus" / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
