"""Fast checks of the pieces under the rollout: durations, budget, state tags, statistics,
config validation and the rollback decision table (on an in-test target, no processes)."""

from __future__ import annotations

import math

import pytest

from ml_actions.config.durations import format_duration, parse_duration, promql_duration
from ml_actions.config.rollout import CustomCheck
from ml_actions.config.settings import RegistryConfig, load_config
from ml_actions.errors import ConfigurationError, InfrastructureError, InputError
from ml_actions.rollout.analysis import statistics as st
from ml_actions.rollout.analysis.custom_checks import render_query, verdict_for
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


def test_budget_of_the_defaults_fits_and_names_every_term():
    for env in ("dev", "staging", "prod"):
        config = load_config(None, env)
        budget = check_budget(config.canary, config.analysis)
        assert budget.ok and budget.worst_case < 300
    prod = load_config(None, "prod")
    b = rollback_budget(prod.canary, prod.analysis)
    assert b.worst_case == 30 * 1 + 60 + 15 + 5


def test_over_budget_names_the_largest_knob():
    config = load_config(None, "prod", {"analysis": {"query_window": "6m"}})
    with pytest.raises(ConfigurationError, match="lower analysis.query_window"):
        check_budget(config.canary, config.analysis)


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


def test_statistics():
    assert st.psi([10, 20, 30], [10, 20, 30]) == pytest.approx(0.0)
    assert st.psi([30, 20, 10], [10, 20, 30]) > 0.2
    merged_c, merged_s = st.merge_sparse_buckets([1, 0, 0, 1], [100, 100, 100, 100])
    assert merged_c == [2] and merged_s == [400]  # 2 observations: no test is possible
    assert st.chi_square_homogeneity([1, 0, 0, 1], [100] * 4, 0.05, 0.8).p_value == 1.0
    assert st.bucket_quantile(0.5, [1, 2, math.inf], [10, 20, 20]) == pytest.approx(1.0)
    assert st.bucket_quantile(0.99, [1, 2, math.inf], [0, 0, 5]) == 2  # all beyond: last bound
    assert st.bucket_quantile(0.5, [1], []) is None
    assert st.count_above(1.5, [1, 2, math.inf], [10, 15, 20]) == 5
    assert st.count_above(9, [1, 2], [10, 15]) == 0
    assert st.one_proportion_n(0.05, 0.01, 0.05, 0.8) == 10**9
    assert st.two_proportion_test(0, 0, 1, 10, 0.05, 0.8).p_value == 1.0
    assert st.sample_ratio_test(50, 100, 100).p_value == 1.0
    assert st.chi_square_n(0.0, 3, 0.05, 0.8) == 10**9
    blatant, pass_n = st.exceedance_test(15, 50, 0.01, 0.05 / 400, 0.8, 0.04)
    assert blatant.p_value < 1e-10 and blatant.required_n < 10 and pass_n > 100


def test_custom_check_templates():
    check = CustomCheck(name="c", query="x{slot='{{ slot }}'}", min=0.1, max=0.9,
                        sample_query="n", min_samples=10)
    assert render_query(check, check.query, "canary", "3", "30s") == "x{slot='canary'}"
    with pytest.raises(ConfigurationError, match="variables are slot"):
        render_query(check, "{{ nope }}", "canary", "3", "30s")
    assert verdict_for(check, None, 20)[0] == "inconclusive"
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


def test_alert_relay_needs_its_bearer_token():
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
    with pytest.raises(InputError, match="repository_dispatch needs"):
        make_relay(inputs, runner)
    inputs["github_token"] = "gh"
    relay = make_relay(inputs, runner)
    assert relay.dispatch is not None and relay.default_model == "m"
