"""What canary-deploy checks before any traffic moves, so a wrong input never blames a model.

A wrong `--prometheus-url` used to be found only after the canary took traffic: every look
failed, the canary was rolled back and the model was tagged `rolled_back`. Now each input the
rollout depends on is tried first, and a failure is exit 2 with one line naming the input:
Prometheus answers, it scrapes this gateway (its metrics are there), and the target answers
with the admin token. The registry and the candidate are resolved by `start.prepare`, also
before traffic moves.
"""

from __future__ import annotations

from ml_actions.errors import InputError, MlActionsError, first_line
from ml_actions.rollout.analysis.prometheus_reader import WEIGHT, PrometheusReader, QueryError
from ml_actions.targets.base import DeploymentTarget


def check_prometheus(reader: PrometheusReader, at: float) -> None:
    """Prometheus answers, and holds the gateway's metrics (so it scrapes the target)."""
    try:
        scraped = reader.scalar(f"count({WEIGHT})", at)
    except QueryError as err:
        refused = any(w in err.cause for w in ("refused", "Max retries", "resolve", "timed out"))
        cause = f"nothing answers at {reader.url}" if refused else err.cause[:160]
        raise InputError(f"--prometheus-url: {cause}; check the URL (the Prometheus server, "
                         "e.g. http://prometheus:9090); nothing was changed") from None
    if not scraped:
        raise InputError(f"--prometheus-url: Prometheus at {reader.url} has no {WEIGHT} "
                         "series: it does not scrape the gateway at --target-url; add the "
                         "gateway's /metrics to its scrape_configs")


def check_target(target: DeploymentTarget, url: str) -> None:
    """The target answers its admin API with our token."""
    try:
        target.state()
    except MlActionsError as err:
        raise InputError(f"--target-url {url}: {first_line(err)}") from None
