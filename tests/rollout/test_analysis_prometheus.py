"""The built-in and custom checks against a real Prometheus scraping simulated gateway metrics.

All scenarios run side by side in one simulation (distinct model versions), so a single
30-second wait covers them: a canary failing 30 % of requests at 5 % of 50 req/s must be
decided within 20 s, a canary flagging five times as often as stable at 20 % of 100 req/s
within 30 s (about 15 s on an idle machine; the last look leaves room for a loaded CI
runner), and every look judges all the evidence since the scenario started.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ml_actions.config.rollout import CustomCheck
from ml_actions.config.settings import load_config
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.custom_checks import CustomChecks
from ml_actions.rollout.analysis.prometheus_reader import (
    PrometheusReader,
    QueryError,
    increase_since,
)
from tests.fixtures.local_services import free_port
from tests.rollout.conftest import fast_config
from tests.rollout.fake_prometheus import VECTOR_42, answer_json
from tests.rollout.simulation import ERRORS_30, GOOD, SHIFTED, SLOW, Route

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenarios(simulator, sim_prometheus):
    simulator.reset()
    routes = {
        "good": Route(("s-good", GOOD), ("c-good", GOOD), 40, rate=100),
        "errors": Route(("s-err", GOOD), ("c-err", ERRORS_30), 5, rate=50),
        "shifted": Route(("s-shift", GOOD), ("c-shift", SHIFTED), 20, rate=100),
        "slow": Route(("s-slow", GOOD), ("c-slow", SLOW), 20, rate=60),
        "trickle": Route(("s-low", GOOD), ("c-low", GOOD), 5, rate=2),
        "srm": Route(("s-srm", GOOD), ("c-srm", GOOD), 30, rate=60),
    }
    start = time.time()
    for route in routes.values():
        simulator.add(route)
    # alpha split over as many stages as a prod rollout has
    analysis = CanaryAnalysis(PrometheusReader(sim_prometheus.url), fast_config().analysis,
                              stages=len(load_config(None, "prod").canary.steps) + 1)
    timeline: dict[str, list] = {name: [] for name in routes}
    weights = {"srm": 5}  # the srm canary really gets 30 % while 5 % is configured
    for wait in (6, 10, 15, 20, 30):
        time.sleep(max(0.0, start + wait - time.time()))
        now = time.time()
        for name, route in routes.items():
            ev = analysis.evaluate(route.canary[0], route.stable[0],
                                   weights.get(name, route.weight), start, at=now)
            timeline[name].append((wait, ev))
    yield timeline, analysis, start
    simulator.reset()


def by_name(evaluation):
    return {c.name: c for c in evaluation.checks}


def first_verdict(timeline, verdict):
    return next((wait for wait, ev in timeline if ev.verdict == verdict), None)


def test_good_canary_passes_every_check_with_evidence(scenarios):
    timeline, _, _ = scenarios
    last = timeline["good"][-1][1]
    checks = by_name(last)
    assert set(checks) == {"sample_ratio", "success_rate", "latency_p99", "score_shift",
                           "decision_rate"}
    assert all(c.verdict in ("pass", "inconclusive") for c in checks.values())
    for name in ("success_rate", "latency_p99", "sample_ratio"):
        assert checks[name].verdict == "pass", checks[name].message
    for check in checks.values():
        assert check.query and check.sample_size and check.required_sample_size
        assert check.lower is not None and check.lower <= check.statistic_value <= check.upper
    assert checks["success_rate"].value == 1.0 and checks["success_rate"].upper < 0.15
    # evidence accumulates: the last look judged more canary requests than the first
    first = by_name(timeline["good"][0][1])["success_rate"].sample_size
    assert checks["success_rate"].sample_size > 2 * first


def test_thirty_percent_errors_at_five_percent_of_50rps_fail_within_20s(scenarios):
    timeline, _, _ = scenarios
    decided = first_verdict(timeline["errors"], "fail")
    assert decided is not None and decided <= 20, [(w, e.verdict) for w, e in timeline["errors"]]
    check = by_name(dict(timeline["errors"])[decided])["success_rate"]
    assert check.verdict == "fail"
    assert check.value < 0.9 and "surely above" in check.message
    assert check.sample_size < 100  # a few seconds of a 2.5 req/s canary decide it


def test_shifted_scores_fail_score_shift_and_decision_rate(scenarios):
    timeline, _, _ = scenarios
    checks = by_name(timeline["shifted"][-1][1])
    shift = checks["score_shift"]
    # a share moved by ~0.18 against a 0.05 tolerance: failing, or about to on more scores
    assert shift.verdict in ("fail", "inconclusive") and shift.statistic_value > 0.1, \
        shift.message
    assert checks["decision_rate"].verdict == "fail", checks["decision_rate"].message
    assert checks["decision_rate"].value > 3 * checks["decision_rate"].stable_value
    assert checks["success_rate"].verdict == "pass"
    assert checks["latency_p99"].verdict == "pass"


def test_slow_canary_fails_latency_only(scenarios):
    timeline, _, _ = scenarios
    checks = by_name(timeline["slow"][-1][1])
    assert checks["latency_p99"].verdict == "fail", checks["latency_p99"].message
    assert checks["latency_p99"].value > checks["latency_p99"].stable_value
    assert checks["success_rate"].verdict == "pass"


def test_too_little_traffic_is_inconclusive_never_pass(scenarios):
    timeline, _, _ = scenarios
    verdicts = [ev.verdict for _, ev in timeline["trickle"]]
    assert verdicts and all(v == "inconclusive" for v in verdicts)
    check = by_name(timeline["trickle"][-1][1])["success_rate"]
    assert check.verdict == "inconclusive" and check.sample_size < check.required_sample_size


def test_sample_ratio_mismatch_halts(scenarios):
    timeline, _, _ = scenarios
    ev = timeline["srm"][-1][1]
    assert ev.verdict == "halt"
    srm = by_name(ev)["sample_ratio"]
    assert srm.verdict == "halt" and srm.value > 0.2 and srm.threshold == 0.05
    assert srm.lower > 0.25 * 0.05  # surely off by more than the tolerance


def test_custom_check_renders_jinja_and_judges_range(scenarios, sim_prometheus):
    _, analysis, start = scenarios
    error_rate = CustomCheck(
        name="canary_5xx_share",
        query='(sum(increase(ml_gateway_requests_total{slot="{{ slot }}",'
              'model_version="{{ model_version }}",code=~"5.."}[{{ window }}])) or vector(0)) / '
              'sum(increase(ml_gateway_requests_total{slot="{{ slot }}",'
              'model_version="{{ model_version }}"}[{{ window }}]))',
        max=0.05,
        sample_query='sum(increase(ml_gateway_requests_total{slot="{{ slot }}",'
                     'model_version="{{ model_version }}"}[{{ window }}]))',
        min_samples=5)
    now = time.time()
    runner = CustomChecks(analysis.reader, [error_rate])
    first = runner.evaluate("c-err", "s-err", start, now)[0]
    # failure_threshold 2: one failing look is not yet a failure
    assert first.verdict == "inconclusive" and "failing look 1 of 2" in first.message
    bad = runner.evaluate("c-err", "s-err", start, now)[0]
    assert bad.verdict == "fail" and bad.value > 0.05 and 'model_version="c-err"' in bad.query
    assert f"[{int(now - start) + 1}s]" in bad.query or f"[{int(now - start)}s]" in bad.query
    good = runner.evaluate("c-good", "s-good", start, now)[0]
    assert good.verdict == "pass"
    missing = runner.evaluate("no-such-version", None, start, now)[0]
    assert missing.verdict == "inconclusive"
    floor = CustomCheck(name="floor", query=error_rate.query, max=0.05, min_samples=10**6)
    starved = CustomChecks(analysis.reader, [floor]).evaluate("c-err", "s-err", start, now)[0]
    assert starved.verdict == "inconclusive" and "needed" in starved.message  # default floor
    stable_side = CustomCheck(name="stable", query=error_rate.query, max=0.05, slot="stable",
                              min_samples=0)
    # a stable check reads the window that ends where the step's data begins
    baseline = CustomChecks(analysis.reader, [stable_side]).evaluate("c-err", "s-err",
                                                                      start + 12, now)[0]
    assert baseline.verdict == "pass" and 'slot="stable"' in baseline.query


def test_unreachable_prometheus_is_an_error_not_a_pass():
    analysis = CanaryAnalysis(PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout=1,
                                               retry_seconds=0.6), fast_config().analysis)
    ev = analysis.evaluate("1", "2", 5, time.time() - 10)
    assert ev.verdict == "error" and "query error" in ev.error and ev.checks == []
    assert "after 2 attempts" in ev.error  # retried once within its 0.6 s



def _paused(sim, route: Route) -> int:
    """Stops the route's traffic and returns what its canary served."""
    with sim.lock:
        route.rate = 0.0
        return route.served.get("canary", 0)


def _scraped(reader: PrometheusReader, start: float, expected: int, timeout: float = 30.0):
    """The canary's sample once Prometheus has scraped `expected` requests (or the timeout):
    waiting on the count, not on a clock, keeps a loaded machine's late scrapes out of it."""
    deadline = time.time() + timeout
    while True:
        sample = reader.slot_sample("canary", "c-restart", start, time.time())
        if sample.n_requests >= expected or time.time() > deadline:
            return sample
        time.sleep(0.5)


def test_a_gateway_restart_mid_step_loses_no_evidence(sim, sim_prometheus):
    """Every request Prometheus scraped before the restart still counts after it, and the
    restarted counters count from zero: the evidence is the sum of both lives.

    A drop is how a restart shows in raw samples, so a routing group whose first count after
    the restart is already at its count before it looks unrestarted (Prometheus' own
    `increase` has the same blind spot). The scenario keeps clear of it on purpose: a busy
    life before the restart (~25 canary requests a group) and a slow one after (~1 a second a
    group), so what it checks is the reader's arithmetic, not that coincidence."""
    reader = PrometheusReader(sim_prometheus.url)
    start = time.time()  # before the first request: the series is born after it
    route = sim.add(Route(("s-restart", GOOD), ("c-restart", GOOD), 50, rate=400))
    time.sleep(2)
    served_before = _paused(sim, route)
    before = _scraped(reader, start, served_before).n_requests
    assert before == served_before > 200
    sim.restart()  # counters drop to zero, as after a kill -9 and restart
    with sim.lock:
        route.rate = 40.0
    time.sleep(4)
    served = _paused(sim, route)
    after = _scraped(reader, start, served).n_requests
    assert served > served_before + 40 and after == served


def test_increase_since_is_reset_aware_and_counts_new_series_from_zero():
    samples = [(0.0, 5.0), (1.0, 8.0), (2.0, 12.0), (3.0, 2.0), (4.0, 6.0)]
    assert increase_since(samples, 0.5) == 3 + 4 + 2 + 4  # a drop is a restart from 0
    assert increase_since(samples, -1.0) == 5 + 3 + 4 + 2 + 4  # born after `since`
    assert increase_since(samples, 9.0) == 0.0


class Flaky(BaseHTTPRequestHandler):
    """Answers each query with the next status of `script` (the last one repeats)."""

    script: list[int] = [200]
    times: list[float] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        Flaky.times.append(time.monotonic())
        status = Flaky.script[min(len(Flaky.times), len(Flaky.script)) - 1]
        answer_json(self, status, VECTOR_42 if status == 200 else
                    {"status": "error", "error": "busy"})

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_prometheus():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Flaky)
    server.daemon_threads, server.block_on_close = True, False  # keep-alive clients linger
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_query_is_retried_with_backoff_within_the_look_interval(flaky_prometheus):
    Flaky.script, Flaky.times = [503, 503, 200], []
    assert PrometheusReader(flaky_prometheus, retry_seconds=5).scalar("up", 0) == 42.0
    gaps = [b - a for a, b in zip(Flaky.times, Flaky.times[1:], strict=False)]
    assert len(Flaky.times) == 3 and gaps[0] >= 0.5 and gaps[1] >= 1.0  # backoff doubles
    Flaky.script, Flaky.times = [503], []  # never answers: the retries end within the bound
    started = time.monotonic()
    with pytest.raises(QueryError, match="after 2 attempts") as err:
        PrometheusReader(flaky_prometheus, retry_seconds=1.0).scalar("up", 0)
    assert err.value.transient and time.monotonic() - started < 1.0 + 0.5
    Flaky.script, Flaky.times = [400], []  # a query Prometheus rejects: no retry mends it
    with pytest.raises(QueryError) as err:
        PrometheusReader(flaky_prometheus, retry_seconds=5).scalar("bad{", 0)
    assert not err.value.transient and len(Flaky.times) == 1
    down = PrometheusReader(f"http://127.0.0.1:{free_port()}", timeout=1, retry_seconds=0.2)
    with pytest.raises(QueryError, match="Prometheus at"):  # unreachable: one try, in time
        down.scalar("up", 0)
