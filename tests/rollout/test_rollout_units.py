"""Fast checks of the pieces under the rollout: durations, budget, state tags, statistics,
config validation and the rollback decision table (on an in-test target, no processes)."""

from __future__ import annotations

import math

import pytest

from ml_actions.config.durations import format_duration, parse_duration, promql_duration
from ml_actions.config.rollout import CustomCheck
from ml_actions.config.settings import RegistryConfig, load_config
from ml_actions.errors import ConfigurationError, InfrastructureError, InputError
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.custom_checks import render_query, verdict_for
from ml_actions.rollout.analysis.histogram_quantile import (
    bound_at_or_above,
    bound_at_or_below,
    bucket_quantile,
)
from ml_actions.rollout.budget import check_budget, rollback_budget
from ml_actions.rollout.rollback import rollback
from ml_actions.rollout.state import RolloutState
from tests.rollout.simulation import GOOD, Route, SimulatedTarget


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h", 3600),
                                           ("1m30s", 90), ("250ms", 0.25), ("12", 12), (7, 7)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "", "m5", "-3", True, -1])
def test_bad_durations_name_the_setting(bad):
    with pytest.raises(ConfigurationError, match="canary.interval"):
        parse_duration(bad, "canary.interval")


def test_duration_formats():
    assert promql_duration(0.2) == "1s" and promql_duration(30.2) == "31s"
    assert format_duration(None) == "–" and format_duration(0.25) == "250 ms"
    assert format_duration(42) == "42.0 s" and format_duration(310) == "5m 10s"
    assert format_duration(300) == "5m"


def alpha_of(config) -> float:
    return CanaryAnalysis(None, config.analysis, len(config.canary.steps) + 1).alpha


def test_budget_counts_the_time_to_evidence_at_the_service_traffic():
    dev = load_config(None, "dev")
    at_50 = check_budget(dev.canary, dev.analysis, 50, alpha_of(dev))
    assert at_50.ok and at_50.slowest_check in ("success_rate", "latency")
    canary_rate = 50 * dev.canary.steps[0] / 100
    assert at_50.detection == pytest.approx(at_50.planned_sample / canary_rate)
    assert at_50.worst_case == pytest.approx(at_50.detection + 5 + 5 + 5)
    at_500 = rollback_budget(dev.canary, dev.analysis, 500, alpha_of(dev))
    assert at_500.detection == pytest.approx(at_50.detection / 10)
    prod = load_config(None, "prod")
    assert check_budget(prod.canary, prod.analysis, 200, alpha_of(prod)).ok


def test_a_schedule_that_cannot_reach_a_verdict_in_time_is_refused_naming_the_knob():
    prod = load_config(None, "prod")
    with pytest.raises(ConfigurationError, match=r"raise canary.steps\[0\] \(now 5%\)"):
        check_budget(prod.canary, prod.analysis, 20, alpha_of(prod))
    slow = load_config(None, "prod", {"analysis": {"interval": "10m"},
                                      "canary": {"lease": "610s"}})
    with pytest.raises(ConfigurationError, match="lower analysis.interval"):
        check_budget(slow.canary, slow.analysis, 10_000, alpha_of(slow))


def test_the_lease_must_outlast_a_look_and_fit_the_budget():
    """The dead man's switch is part of the worst case: a dead runner's canary keeps its
    traffic for the lease, so the budget holds max(detection path, hold path, lease) + flip."""
    short = load_config(None, "prod", {"canary": {"lease": "20s"}})  # prod looks every 30 s
    with pytest.raises(ConfigurationError, match="canary.lease .20s. must outlast one look"):
        check_budget(short.canary, short.analysis, 10_000, alpha_of(short))
    long = load_config(None, "prod", {"canary": {"lease": "10m"}})
    with pytest.raises(ConfigurationError, match="shorten canary.lease"):
        check_budget(long.canary, long.analysis, 10_000, alpha_of(long))
    ok = rollback_budget(long.canary, long.analysis, 10_000, alpha_of(long))
    assert ok.worst_case == pytest.approx(600 + long.canary.flip_seconds)


def test_the_budget_counts_holding_while_prometheus_cannot_be_asked():
    """With `on_query_error: hold` (the default) an unjudged canary keeps its traffic for a
    look, the reader's retries (one more interval) and the hold before the fail-safe flip."""
    prod = load_config(None, "prod")
    assert (prod.analysis.on_query_error, prod.analysis.hold_timeout) == ("hold", "60s")
    fast = check_budget(prod.canary, prod.analysis, 10_000, alpha_of(prod))  # detects at once
    assert (fast.retry, fast.hold, fast.unjudged) == (30, 60, 30 + 30 + 60)
    assert fast.worst_case == pytest.approx(max(fast.unjudged, fast.lease) + fast.flip)
    held = load_config(None, "prod", {"analysis": {"hold_timeout": "5m"}})
    with pytest.raises(ConfigurationError, match="shorten analysis.hold_timeout") as err:
        check_budget(held.canary, held.analysis, 10_000, alpha_of(held))
    assert "while Prometheus cannot be asked" in str(err.value)
    failing = load_config(None, "prod", {"analysis": {"hold_timeout": "5m",
                                                      "on_query_error": "rollback"}})
    assert check_budget(failing.canary, failing.analysis, 10_000, alpha_of(failing)).hold == 0


@pytest.mark.parametrize("steps, message", [
    ([5, 25, 50], "last step must be 100"), ([50, 25, 100], "increase strictly"),
    ([0, 100], r"\(0, 100\]"), ([], "at least one")])
def test_bad_schedules_are_refused_with_the_file_path(steps, message):
    with pytest.raises(ConfigurationError, match=message):
        load_config(None, "dev", {"canary": {"steps": steps}})


def test_bad_policy_and_custom_check_are_refused():
    with pytest.raises(ConfigurationError, match="rollback, hold"):
        load_config(None, "dev", {"analysis": {"on_query_error": "ignore"}})
    with pytest.raises(ConfigurationError, match="min, max or both"):
        load_config(None, "dev", {"analysis": {"custom_checks": [{"name": "x", "query": "up"}]}})


def test_state_round_trips_through_tags():
    state = RolloutState(status="running", phase="step", step_index=2, weight=50.0,
                         steps=[5.0, 25.0, 50.0, 100.0], stable_version="3", failures=1,
                         consecutive_failures=1, reason="x" * 5000)
    tags = state.to_tags()
    assert tags["rollout.steps"] == "5,25,50,100" and len(tags["rollout.reason"]) <= 4000
    back = RolloutState.from_tags(tags)
    assert (back.step_index, back.weight, back.steps, back.failures) == (2, 50.0,
                                                                        state.steps, 1)
    assert RolloutState.from_tags({"validation.status": "passed"}) is None


def test_histogram_quantiles_and_bounds():
    assert bucket_quantile(0.5, [1, 2, math.inf], [10, 20, 20]) == pytest.approx(1.0)
    assert bucket_quantile(0.99, [1, 2, math.inf], [0, 0, 5]) == 2  # all beyond: last bound
    assert bucket_quantile(0.5, [1], []) is None
    assert bound_at_or_below(1.5, [1, 2, math.inf]) == 1
    assert bound_at_or_below(0.5, [1, 2, math.inf]) == 1  # none below: the first bound
    assert bound_at_or_above(1.5, [1, 2, math.inf]) == 2


def test_custom_check_templates():
    check = CustomCheck(name="c", query="x{slot='{{ slot }}'}", min=0.1, max=0.9,
                        sample_query="n", min_samples=10)
    assert CustomCheck(name="d", query="up", max=1).min_samples == 50  # a floor by default
    assert render_query(check, check.query, "canary", "3", "30s") == "x{slot='canary'}"
    with pytest.raises(ConfigurationError, match="variables are slot"):
        render_query(check, "{{ nope }}", "canary", "3", "30s")
    assert verdict_for(check, None, 20)[0] == "inconclusive"
    assert verdict_for(check, 0.5, None)[0] == "inconclusive"  # no sample: never a pass
    assert verdict_for(check, 0.5, 5)[0] == "inconclusive"
    assert verdict_for(check, 0.05, 20)[0] == "fail"
    assert verdict_for(check, 0.95, 20)[0] == "fail"
    assert verdict_for(check, 0.5, 20)[0] == "pass"


def make_target(simulator, *, stable="1", canary=None, previous=None, weight=0.0):
    models = {f"models:/m/{v}": GOOD for v in ("1", "2", "3", "4")}
    target = SimulatedTarget(simulator, Route(rate=0), models)
    for slot, version in (("previous", previous), ("stable", stable), ("canary", canary)):
        if version:
            target.load(slot, f"models:/m/{version}")
    if weight:
        target.set_canary_weight(weight)
    return target


def test_rollback_kills_a_running_canary(simulator):
    target = make_target(simulator, canary="2", weight=25)
    result = rollback(target, None, RegistryConfig(), "m", "bad")
    assert (result.action, result.restored_version, result.rolled_back_version) == (
        "canary_removed", "1", "2")
    assert target.state().canary_weight == 0 and result.seconds < 1


def test_rollback_after_promotion_restores_previous(simulator):
    target = make_target(simulator, canary="2", weight=100)
    target.promote()
    result = rollback(target, None, RegistryConfig(), "m", "bad")
    assert (result.action, result.restored_version) == ("previous_restored", "1")
    assert target.state().slot("stable").model_version == "1"
    with pytest.raises(InputError, match="nothing to roll back"):
        rollback(target, None, RegistryConfig(), "m", "again")
    with pytest.raises(InputError, match="already serves"):
        rollback(target, None, RegistryConfig(), "m", "again", to_version="1")


def test_rollback_to_a_named_version_loads_it(simulator):
    target = make_target(simulator, canary="2", weight=5)
    result = rollback(target, None, RegistryConfig(), "m", "pin", to_version="3")
    assert (result.action, result.restored_version, result.rolled_back_version) == (
        "version_loaded", "3", "1")
    assert target.state().canary_weight == 0
    with pytest.raises(InfrastructureError, match="loading version 9"):
        rollback(target, None, RegistryConfig(), "m", "pin", to_version="9")


def test_rollout_metrics_never_break_a_rollout():
    from ml_actions.rollout.analysis.checks import AnalysisCheck
    from ml_actions.rollout.gauges import RolloutMetricsPublisher

    class Broken:
        sent: list = []
        exports_rollout_metrics = True

        def publish_rollout_metrics(self, status, weight, checks, model_name=""):
            self.sent.append((status, weight, checks, model_name))
            if status == "failed":
                raise InfrastructureError("gateway down")

    warnings: list[str] = []
    target = Broken()
    publish = RolloutMetricsPublisher(target, "fraud", warnings.append)
    check = AnalysisCheck("success_rate", "pass", 0.995, 0.99, ">=", 100, 76)
    publish("progressing", 5.0, [check, AnalysisCheck("x", "skip", None, None, "=", 0, 0)])
    assert target.sent[0] == ("progressing", 5.0, [
        {"name": "success_rate", "value": 0.995, "threshold": ">= 0.99"}], "fraud")
    publish("failed", 0.0, [])
    publish("failed", 0.0, [])
    assert len(warnings) == 1 and "gateway down" in warnings[0]
    silent = type("NoMetricsTarget", (), {"exports_rollout_metrics": False})()
    RolloutMetricsPublisher(silent, "fraud", warnings.append)("progressing", 5.0, [])


@pytest.mark.parametrize("command", ["canary-deploy", "rollback", "alert-relay"])
def test_command_help_renders(command, capsys):
    from ml_actions.cli.main import main

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and "--target-url" in capsys.readouterr().out


def test_bad_schedule_flags_exit_2_with_the_flag_named(tmp_path):
    import io

    from ml_actions.cli.main import main
    from ml_actions.cli.runner import ActionsRunner

    out = io.StringIO()
    code = main(["canary-deploy", "--model-name", "m", "--candidate", "1", "--target-url",
                 "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9",
                 "--steps", "5,x,100"], runner=ActionsRunner(env={}, stream=out))
    assert code == 2 and "--steps" in out.getvalue()
    out = io.StringIO()
    code = main(["canary-deploy", "--model-name", "m", "--candidate", "1", "--target-url",
                 "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9",
                 "--steps", "5,50", "--interval", "1m"], runner=ActionsRunner(env={}, stream=out))
    assert code == 2 and "last step must be 100" in out.getvalue()
    assert "--steps/--interval/--bake" in out.getvalue()


def test_alert_relay_needs_its_bearer_token(tmp_path):
    import io

    from ml_actions.cli.commands.alert_relay import make_relay
    from ml_actions.cli.declarations import Inputs
    from ml_actions.cli.runner import ActionsRunner

    inputs = Inputs(target_url="http://127.0.0.1:9", model_name="m", tracking_uri=None,
                    config=None, environment=None, record_file=None, github_token=None,
                    repository="acme/fraud", host=None, port=None)
    with pytest.raises(InputError, match="ML_ACTIONS_RELAY_TOKEN"):
        make_relay(inputs, ActionsRunner(env={}, stream=io.StringIO()))
    runner = ActionsRunner(env={"ML_ACTIONS_RELAY_TOKEN": "t", "ML_ACTIONS_ADMIN_TOKEN": "a"},
                           stream=io.StringIO())
    relay = make_relay(inputs, runner)  # action: rollback (default) needs no GitHub token
    assert relay.dispatch is None and relay.default_model == "m"
    config = tmp_path / "relay.yaml"
    config.write_text("alert_relay: {action: dispatch}\n")
    inputs["config"] = str(config)
    with pytest.raises(InputError, match="pass --github-token and --repository"):
        make_relay(inputs, runner)
    inputs["github_token"] = "gh"
    relay = make_relay(inputs, runner)
    assert relay.dispatch is not None and relay.default_model == "m"


def test_expected_state_makes_every_rollback_caller_idempotent(simulator):
    running = make_target(simulator, canary="2", weight=25)
    other = rollback(running, None, RegistryConfig(), "m", "alert", expect_canary="3")
    assert other.action == "not_in_expected_state" and "canary is v2" in other.reason
    assert running.state().canary_weight == 25  # nothing changed
    done = rollback(running, None, RegistryConfig(), "m", "alert", expect_canary="2")
    assert done.action == "canary_removed" and running.state().canary_weight == 0
    again = rollback(running, None, RegistryConfig(), "m", "dispatch", expect_canary="2")
    assert again.action == "not_in_expected_state"  # a second caller cannot demote stable
    assert running.state().slot("stable").model_version == "1"

    promoted = make_target(simulator, stable="2", previous="1")
    kept = rollback(promoted, None, RegistryConfig(), "m", "old alert", expect_champion="3")
    assert kept.action == "not_in_expected_state"
    assert promoted.state().slot("stable").model_version == "2"
    restored = rollback(promoted, None, RegistryConfig(), "m", "alert", expect_champion="2")
    assert restored.action == "previous_restored" and restored.restored_version == "1"
    with pytest.raises(InputError, match="exclude each other"):
        rollback(promoted, None, RegistryConfig(), "m", "x", expect_canary="1",
                 expect_champion="1")
