"""The flip is the commit point, and a look that cannot be judged holds: fast, on a simulated
target (no traffic) and a registry double that fails the write we choose.

Every registry write after the flip is made to fail in turn; each time traffic must stay on the
candidate (no rollback, nothing recorded aborted), the error must say so on one line, and
`--resume` must finish the registry without promoting again (the old champion stays in the
warm `previous` slot and becomes @previous-champion)."""

from __future__ import annotations

import pytest

from ml_actions.errors import InfrastructureError, InputError
from ml_actions.registry import ModelVersionRef
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.evidence import AnalysisCheck, Evaluation
from ml_actions.rollout.controller import Rollout
from ml_actions.rollout.start import prepare
from ml_actions.rollout.state import STATE_TAG, RolloutState
from tests.rollout.conftest import fast_config
from tests.rollout.simulation import GOOD, Route, SimulatedTarget

MODEL = "m"


class RegistryDouble:
    """Versions' tags and the model's aliases in memory; write number `fail_at` (counted once
    `armed`) raises as an unreachable MLflow does, after our retries."""

    def __init__(self, tags: dict[str, dict[str, str]], aliases: dict[str, str]):
        self.tags, self.aliases = tags, aliases
        self.models = {}
        self.writes: list[tuple] = []
        self.armed, self.fail_at = False, 0

    def _write(self, *what) -> None:
        if self.armed:
            self.writes.append(what)
            if len(self.writes) == self.fail_at:
                raise InfrastructureError("MLflow at http://mlflow did not answer while trying "
                                          f"to {what}")

    def get_tags(self, name, version):
        return dict(self.tags.get(version, {}))

    def set_tags(self, name, version, tags):
        for key, value in tags.items():
            self._write("tag", version, key)
            self.tags.setdefault(version, {})[key] = str(value)

    def set_alias(self, name, alias, version):
        self._write("alias", alias, version)
        self.aliases[alias] = version

    def delete_alias(self, name, alias):
        if alias in self.aliases:
            self._write("delete", alias)
            del self.aliases[alias]

    def resolve(self, name, reference):
        version = self.aliases.get(reference.lstrip("@"), reference)
        return ModelVersionRef(name, version, tags=self.get_tags(name, version))

    def find_alias(self, name, alias):
        return self.resolve(name, alias) if alias in self.aliases else None

    # the rollout lock's registered models (rollout_lock.py), never failing
    def create_model_if_absent(self, name, tags, description=""):
        if name in self.models:
            return False
        self.models[name] = dict(tags)
        return True

    def model_tags_if_present(self, name):
        return (dict(self.models[name]), 0) if name in self.models else None

    def delete_model_if_present(self, name):
        return self.models.pop(name, None) is not None

    def version_tags_if_present(self, name, version):
        return self.get_tags(name, version) if version in self.tags else None


class Flipping(SimulatedTarget):
    """Arms the registry's failure at the flip; `fail_promote`: the flip happens, then the
    call fails anyway (a gateway that promoted and timed out answering)."""

    registry: RegistryDouble | None = None
    fail_promote = False

    def promote(self) -> None:
        super().promote()
        if self.registry is not None:
            self.registry.armed = True
        if self.fail_promote:
            raise InfrastructureError("gateway: POST /admin/promote timed out")


def at_the_flip(simulator, fail_at: int, fail_promote: bool = False):
    """v1 champion on stable, v2 warm in the canary slot at 100 %, its bake passed: the state a
    rollout is in just before the flip."""
    target = Flipping(simulator, Route(rate=0), {f"models:/{MODEL}/{v}": GOOD for v in "12"})
    target.load("stable", f"models:/{MODEL}/1")
    target.load("canary", f"models:/{MODEL}/2")
    target.set_canary_weight(100)
    state = RolloutState(phase="promoting", step_index=1, weight=100, steps=[50, 100],
                         stable_version="1", started_at="2024-01-01T00:00:00Z")
    registry = RegistryDouble({"2": state.to_tags()}, {"champion": "1", "canary": "2"})
    registry.fail_at, target.registry, target.fail_promote = fail_at, registry, fail_promote
    config = fast_config(monitor={"guard_period": "0s"})  # no shadow slot to guard with
    rollout = Rollout(config, registry, target, CanaryAnalysis(None, config.analysis), MODEL,
                      log=lambda line: None)
    return rollout, registry, target, state


def assert_traffic_on_the_candidate(target, registry):
    state = target.state()
    assert state.slot("stable").model_version == "2" and state.canary_weight == 0
    assert state.slot("previous").model_version == "1"  # the old champion, still warm
    assert target.calls.count("promote") == 1 and "rollback" not in target.calls
    assert RolloutState.from_tags(registry.tags["2"]).status in ("running", "promoted")
    assert registry.tags["2"].get("rollout.status") in ("running", "promoted")


def test_every_registry_failure_after_the_flip_keeps_traffic_and_resume_converges(simulator):
    rollout, registry, target, state = at_the_flip(simulator, fail_at=0)
    assert rollout.run(registry.resolve(MODEL, "2"), state, resumed=True).result == "promoted"
    writes = list(registry.writes)  # every registry write after the flip, in order
    assert writes[0] == ("tag", "2", STATE_TAG) and writes[-1] == ("delete", "canary")
    assert writes.index(("alias", "previous-champion", "1")) < writes.index(
        ("alias", "champion", "2"))
    for fail_at in range(1, len(writes) + 1):
        rollout, registry, target, state = at_the_flip(simulator, fail_at)
        try:
            result = rollout.run(registry.resolve(MODEL, "2"), state, resumed=True)
        except InfrastructureError as err:  # before the state said promoted: resume finishes
            message = str(err)
            assert "traffic is on v2" in message and "--resume" in message, message
            assert "\n" not in message and err.exit_code == 2
            assert_traffic_on_the_candidate(target, registry)
            registry.armed = False
            candidate, resumed = prepare(registry, rollout.config, target, MODEL, None, False,
                                         True)
            result = rollout.run(candidate, resumed, resumed=True)
            assert not result.warnings, (fail_at, result.warnings)
        else:  # after it: promoted, the tidying that failed is a warning
            assert writes[fail_at - 1][0] != "alias", (fail_at, writes)
            assert result.warnings and "promoted" in result.warnings[0], (fail_at, writes)
        assert result.result == "promoted", (fail_at, result.reason)
        assert_traffic_on_the_candidate(target, registry)
        aliases = {"champion": "2", "previous-champion": "1"}
        assert {k: v for k, v in registry.aliases.items() if k != "canary"} == aliases, fail_at
        final = RolloutState.from_tags(registry.tags["2"])
        assert final.status == "promoted" and final.flipped_at and final.previous_champion == "1"


def test_a_promote_call_that_fails_after_flipping_is_not_rolled_back(simulator):
    rollout, registry, target, state = at_the_flip(simulator, fail_at=0, fail_promote=True)
    with pytest.raises(InfrastructureError, match="traffic is on v2"):
        rollout.run(registry.resolve(MODEL, "2"), state, resumed=True)
    assert_traffic_on_the_candidate(target, registry)
    assert RolloutState.from_tags(registry.tags["2"]).phase == "promoting"
    target.fail_promote = False
    candidate, resumed = prepare(registry, rollout.config, target, MODEL, None, False, True)
    assert rollout.run(candidate, resumed, resumed=True).result == "promoted"
    assert target.calls.count("promote") == 1 and registry.aliases["previous-champion"] == "1"


def test_a_recorded_flip_the_target_no_longer_shows_is_not_promoted_again(simulator):
    rollout, registry, target, state = at_the_flip(simulator, fail_at=2)
    with pytest.raises(InfrastructureError, match="traffic is on v2"):
        rollout.run(registry.resolve(MODEL, "2"), state, resumed=True)
    assert RolloutState.from_tags(registry.tags["2"]).flipped_at  # the flip was recorded
    target.rollback()  # someone restored v1 by hand, without the registry
    registry.armed = False
    candidate, resumed = prepare(registry, rollout.config, target, MODEL, None, False, True)
    with pytest.raises(InputError, match="no longer serves it"):
        rollout.run(candidate, resumed, resumed=True)
    assert target.calls.count("promote") == 1 and target.state().slot("stable").model_version \
        == "1"
    assert registry.aliases["champion"] == "1"


# -- a look that cannot be judged -------------------------------------------------------------
def passing(weight: float) -> Evaluation:
    check = AnalysisCheck("success_rate", "pass", 0.001, 0.03, "<=", 5000, 1000)
    return Evaluation("2024-01-01T00:00:00Z", weight, 10.0, "pass", [check],
                      canary_requests=5000, stable_requests=5000)


class ScriptedAnalysis(CanaryAnalysis):
    """Looks that raise (a bug in a check, say) `failures` times, then pass."""

    def __init__(self, config, failures: int):
        super().__init__(None, config.analysis)
        self.failures = failures

    def evaluate(self, canary_version, stable_version, weight, since, **kwargs):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("boom")
        return passing(weight)


def scripted_rollout(simulator, failures: int, **analysis):
    config = fast_config(canary={"steps": [100], "interval": "250ms", "bake": "0s"},
                         analysis={"interval": "250ms", "inconclusive_timeout": "250ms",
                                   **analysis})
    target = SimulatedTarget(simulator, Route(rate=0), {f"models:/{MODEL}/{v}": GOOD
                                                        for v in "12"})
    target.load("stable", f"models:/{MODEL}/1")
    registry = RegistryDouble({"2": {"validation.status": "passed"}}, {"champion": "1"})
    rollout = Rollout(config, registry, target, ScriptedAnalysis(config, failures), MODEL,
                      log=lambda line: None)
    candidate, state = prepare(registry, config, target, MODEL, "2", False, False)
    return rollout.run(candidate, state), registry


def test_an_exception_in_a_look_is_held_past_the_step_timeout_then_judged(simulator):
    result, registry = scripted_rollout(simulator, failures=4)  # 1 s of errors > due + timeout
    assert result.result == "promoted", result.reason
    errors = [ev for ev in result.steps[0].evaluations if ev.verdict == "error"]
    assert len(errors) == 4 and errors[0].error == "the analysis failed: RuntimeError: boom"
    assert result.steps[0].evaluations[-1].verdict == "pass"
    assert "held through 4 look(s)" in result.reason


def test_an_exception_in_a_look_rolls_back_with_the_rollback_policy_or_past_the_hold(simulator):
    result, registry = scripted_rollout(simulator, failures=1, on_query_error="rollback")
    assert result.result == "rolled_back" and result.reason.startswith("fail-safe: the analysis")
    assert RolloutState.from_tags(registry.tags["2"]).status == "rolled_back"
    result, _ = scripted_rollout(simulator, failures=100, hold_timeout="500ms")
    assert result.result == "rolled_back" and "after holding 500ms" in result.reason
    assert "analysis.hold_timeout" in result.reason and len(result.steps[0].evaluations) >= 3


def test_the_state_tag_is_what_resume_reads(simulator):
    _, registry, target, state = at_the_flip(simulator, fail_at=0)
    tags = registry.tags["2"]
    tags["rollout.phase"], tags["rollout.status"] = "done", "aborted"  # stale mirrors
    assert RolloutState.from_tags(tags).phase == "promoting"
    del tags[STATE_TAG]
    assert RolloutState.from_tags(tags) is None  # mirrors alone are never trusted
