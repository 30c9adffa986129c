"""Deploy what was validated (issue 12's provenance rows of the chaos table): a version that a
pull request validated, one validated in staging, and one validated against a champion that
has since been replaced are each refused in prod, in one line, before anything moves."""

from __future__ import annotations

import time

import pytest

from ml_actions.errors import InputError
from ml_actions.registry import Registry
from ml_actions.rollout.provenance import CHAMPION_TAG, ENVIRONMENT_TAG, GATE_DIGEST_TAG
from ml_actions.rollout.start import prepare
from tests.rollout.conftest import fast_config
from tests.rollout.registry_setup import register_versions, unique_name
from tests.rollout.simulation import GOOD, Route, SimulatedTarget

pytestmark = pytest.mark.integration


@pytest.mark.chaos
def test_versions_validated_for_something_else_are_refused_in_prod(sim, tracking_uri,
                                                                    chaos_row):
    name = unique_name("provenance")
    champion, from_pr, from_staging, stale, new_champion = register_versions(
        tracking_uri, name, 5)
    registry = Registry(tracking_uri)
    registry.set_alias(name, "champion", champion)
    prod = fast_config()
    prod.environment = "prod"
    pr_config = fast_config(thresholds={"auc_roc": {"min": 0.5}})  # a PR's own, laxer gate
    facts = {
        # the reusable workflow validates pull requests in `pr-environment` (staging), with
        # the PR's own ml-actions.yaml, and registers them under @pr-<N> only
        from_pr: {ENVIRONMENT_TAG: "staging", GATE_DIGEST_TAG: pr_config.gate_digest(),
                  CHAMPION_TAG: champion},
        from_staging: {ENVIRONMENT_TAG: "staging", GATE_DIGEST_TAG: prod.gate_digest(),
                       CHAMPION_TAG: champion},
        stale: {ENVIRONMENT_TAG: "prod", GATE_DIGEST_TAG: prod.gate_digest(),
                CHAMPION_TAG: champion},
    }
    for version, tags in facts.items():
        registry.set_tags(name, version, tags)
    registry.set_alias(name, "pr-7", from_pr)
    route = sim.add(Route(rate=50.0))
    target = SimulatedTarget(sim, route, {f"models:/{name}/{v}": GOOD for v in facts}
                             | {f"models:/{name}/{champion}": GOOD})
    target.load("stable", f"models:/{name}/{champion}")
    expected = {from_pr: "validated for 'staging', not for 'prod'",
                from_staging: "validated for 'staging', not for 'prod'"}
    for version, phrase in expected.items():
        started = time.monotonic()
        with pytest.raises(InputError, match=phrase) as refused:
            prepare(registry, prod, target, name, version, False, False)
        _assert_nothing_moved(registry, target, name, version, str(refused.value))
        row = "a PR run's model (@pr-7)" if version == from_pr else "a version validated in " \
                                                                    "staging"
        chaos_row(row, "refused in prod with a one-line reason", str(refused.value)[:120],
                  seconds_to_safe=time.monotonic() - started)
    registry.set_alias(name, "champion", new_champion)  # the champion was replaced since
    started = time.monotonic()
    with pytest.raises(InputError, match=f"against champion v{champion}, but @champion is now "
                                         f"v{new_champion}") as refused:
        prepare(registry, prod, target, name, stale, False, False)
    _assert_nothing_moved(registry, target, name, stale, str(refused.value))
    chaos_row("a version validated against a since-replaced champion",
              "refused in prod with a one-line reason", str(refused.value)[:120],
              seconds_to_safe=time.monotonic() - started)


def _assert_nothing_moved(registry: Registry, target, name: str, version: str,
                          message: str) -> None:
    assert "\n" not in message and "validate-model" in message, message
    assert target.state().slot("canary").status == "empty"
    assert target.state().canary_weight == 0
    assert "rollout.status" not in registry.get_tags(name, version)
    assert registry.find_alias(name, "canary") is None
