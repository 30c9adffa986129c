"""What canary-deploy checks before any traffic moves, so a wrong input never blames a model.

A wrong `--prometheus-url` used to be found only after the canary took traffic: every look
failed, the canary was rolled back and the model was tagged `rolled_back`. Now each input the
rollout depends on is tried first, and a failure is exit 2 with one line naming the input:
Prometheus answers, it scrapes this gateway (its metrics are there), and the target answers
with the admin token. The registry and the candidate are resolved by `start.prepare`, also
before traffic moves.
"""

from __future__ import annotations

import time

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.errors import InputError, MlActionsError, first_line
from ml_actions.rollout.analysis.prometheus_reader import WEIGHT, PrometheusReader, QueryError
from ml_actions.targets.base import DeploymentTarget

RATE_WINDOW_SECONDS = 120.0  # how far back the service's request rate is measured


SCRAPES_TO_WAIT = 3  # a gateway or Prometheus started seconds ago may not be scraped yet
MIN_WAIT_SECONDS = 15.0  # a busy Prometheus scrapes a new target seconds after it is ready


def check_prometheus(reader: PrometheusReader, scrape_interval: float) -> None:
    """Prometheus answers, and holds the gateway's metrics (so it scrapes the target).

    Absent metrics are asked for again for a few scrape intervals: a Prometheus or gateway
    that started moments ago (a fresh environment, a test stack) has simply not scraped yet,
    and refusing then would be a false "wrong input".
    """
    waited = 0.0
    pause = max(scrape_interval, MIN_WAIT_SECONDS / SCRAPES_TO_WAIT)
    for attempt in range(SCRAPES_TO_WAIT + 1):
        try:
            scraped = reader.scalar(f"count({WEIGHT})", time.time())
        except QueryError as err:
            refused = any(w in err.cause
                          for w in ("refused", "Max retries", "resolve", "timed out"))
            cause = f"nothing answers at {reader.url}" if refused else err.cause[:160]
            raise InputError(f"--prometheus-url: {cause}; check the URL (the Prometheus "
                             "server, e.g. http://prometheus:9090); nothing was changed") from None
        if scraped:
            return
        if attempt < SCRAPES_TO_WAIT:
            time.sleep(pause)
            waited += pause
    raise InputError(f"--prometheus-url: Prometheus at {reader.url} has no {WEIGHT} series "
                     f"(asked again for {waited:.0f} s): it does not scrape the gateway at "
                     "--target-url; add the gateway's /metrics to its scrape_configs")


def check_target(target: DeploymentTarget, url: str) -> None:
    """The target answers its admin API with our token."""
    try:
        target.state()
    except MlActionsError as err:
        raise InputError(f"--target-url {url}: {first_line(err)}") from None


def service_rate(config: AnalysisConfig, reader: PrometheusReader) -> float:
    """The service's requests/s: configured, or measured before any traffic moves."""
    if config.expected_request_rate is not None:
        return config.expected_request_rate
    scrape = config.seconds("scrape_interval")
    measured = None
    for attempt in range(4):  # a freshly started Prometheus needs two scrapes for a rate
        try:
            measured = reader.service_request_rate(RATE_WINDOW_SECONDS, time.time())
        except QueryError as err:
            raise InputError(f"--prometheus-url: cannot measure the request rate before the "
                             f"first step ({err.cause[:160]}); check the URL, or set "
                             "analysis.expected_request_rate") from None
        if measured or attempt == 3:
            break
        time.sleep(scrape)
    if not measured:
        raise InputError(
            f"no traffic: the gateway served no requests in the last {RATE_WINDOW_SECONDS:.0f} "
            "s as Prometheus sees it, so no canary can be judged; send traffic first (and check "
            "that Prometheus scrapes the gateway), or set analysis.expected_request_rate")
    return measured
