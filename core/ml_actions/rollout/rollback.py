"""Rolling back: traffic first, then the registry, then proof that traffic is on the old model.

Used by `canary-deploy` when a check fails, by `ml-actions rollback` and by the alert relay.
The traffic change is one call on the target (a pointer swap in the gateway: the canary's
weight to 0, or the warm `previous` slot back to stable), so it takes milliseconds; the
registry update comes after, because a slow MLflow must never delay taking a bad model out of
traffic. The result counts only as a rollback once the target *reports* 100 % on the restored
version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ml_actions.config.settings import RegistryConfig
from ml_actions.errors import InfrastructureError, InputError
from ml_actions.registry import Registry
from ml_actions.rollout.rollout_lock import release_stopped_rollout
from ml_actions.rollout.state import RolloutState, write_state
from ml_actions.targets.base import DeploymentTarget, TargetState
from ml_actions.timestamps import now_iso

ACTIONS = ("canary_removed", "previous_restored", "version_loaded", "not_in_expected_state")


@dataclass
class RollbackResult:
    """What was restored, and how long from the decision to verified traffic on it."""

    action: str  # one of ACTIONS
    restored_version: str | None
    rolled_back_version: str | None
    reason: str
    seconds: float  # decision -> target verified 100 % on the restored version
    registry_seconds: float = 0.0
    verified: bool = True
    at: str = ""


def wait_until(target: DeploymentTarget, ok, timeout: float) -> TargetState:
    """Poll the target's state until `ok(state)`; raise when it never gets there."""
    deadline = time.monotonic() + timeout
    while True:
        state = target.state()
        if ok(state):
            return state
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"the target did not reach the expected state within {timeout:.0f} s (canary "
                f"weight {state.canary_weight}, stable {state.slot('stable').model_version}); "
                "check the gateway's /admin/state and its log"
            )
        time.sleep(0.05)


def _has_canary(state: TargetState) -> bool:
    return state.canary_weight > 0 or state.slot("canary").status in ("ready", "loading")


def remove_canary(target: DeploymentTarget, timeout: float = 30.0) -> float | None:
    """Canary out of traffic and unloaded; seconds until the target confirms weight 0.

    None when there is no canary: the target's rollback would then restore `previous`, which
    is never what removing a canary means.
    """
    start = time.monotonic()
    if not _has_canary(target.state()):
        return None
    target.rollback()
    wait_until(target, lambda s: s.canary_weight == 0, timeout)
    return time.monotonic() - start


def rollback_traffic(target: DeploymentTarget, to_version: str | None, model_uri: str | None,
                     timeout: float = 300.0) -> tuple[str, str | None, str | None, float]:
    """Restore traffic; returns (action, restored, rolled_back, seconds to verified)."""
    start = time.monotonic()
    state = target.state()
    stable = state.slot("stable").model_version
    previous = state.slot("previous")
    if _has_canary(state) and (to_version is None or to_version == stable):
        canary = state.slot("canary").model_version
        remove_canary(target, timeout)
        return "canary_removed", stable, canary, time.monotonic() - start
    if previous.status == "ready" and (to_version is None or to_version == previous.model_version):
        target.rollback()
        restored = previous.model_version
        wait_until(target, lambda s: s.canary_weight == 0
                   and s.slot("stable").model_version == restored, timeout)
        return "previous_restored", restored, stable, time.monotonic() - start
    if to_version is None:
        raise InputError(
            "nothing to roll back: the target has no canary and no previous model kept warm; "
            "pass --to-version to load a specific version into the stable slot"
        )
    if to_version == stable and not _has_canary(state):
        raise InputError(f"version {to_version} already serves 100 % of traffic")
    if _has_canary(state):
        remove_canary(target, timeout)
    slot = target.load("stable", model_uri or "", wait=True, timeout=timeout)
    if slot.status != "ready":
        raise InfrastructureError(
            f"loading version {to_version} into the stable slot failed: {slot.error}; "
            "the previous stable model keeps serving"
        )
    wait_until(target, lambda s: s.slot("stable").model_version == to_version
               and s.canary_weight == 0, timeout)
    return "version_loaded", to_version, stable, time.monotonic() - start


def record_canary_rollback(registry: Registry, aliases: RegistryConfig, model_name: str,
                           version: str | None, reason: str, status: str = "rolled_back") -> None:
    """Registry after a canary left traffic: tags on the candidate, `canary` alias removed."""
    if version:
        _record_ending(registry, model_name, version, status, reason)
    canary = registry.find_alias(model_name, aliases.canary_alias)
    if canary is not None and (version is None or canary.version == version):
        registry.delete_alias(model_name, aliases.canary_alias)


def record_restore(registry: Registry, aliases: RegistryConfig, model_name: str,
                   restored: str, rolled_back: str | None, reason: str) -> None:
    """Registry after a promoted model was replaced: champion back, the old one tagged."""
    registry.set_alias(model_name, aliases.champion_alias, restored)
    previous = registry.find_alias(model_name, aliases.previous_champion_alias)
    if previous is not None and previous.version == restored:
        registry.delete_alias(model_name, aliases.previous_champion_alias)
    if rolled_back and rolled_back != restored:
        _record_ending(registry, model_name, rolled_back, "rolled_back", reason)


def _record_ending(registry: Registry, model_name: str, version: str, status: str,
                   reason: str) -> None:
    """The version's rollout state ends with `status`: its document first, then the mirrors."""
    tags = registry.get_tags(model_name, version)
    state = RolloutState.from_tags(tags) or RolloutState()
    state.status, state.reason, state.phase = status, reason, "done"
    state.weight, state.updated_at = 0.0, now_iso()
    write_state(registry, model_name, version, state, tags)


def unexpected_state(state: TargetState, expect_canary: str | None,
                     expect_champion: str | None) -> str | None:
    """Why the target is not in the state the caller expects to undo, or None when it is.

    Several automatic callers can fire for one incident (an alert, its dispatch, a failed
    job's clean-up); each says what it wants undone, so only the first one acts and the
    others cannot demote a healthy champion."""
    canary = state.slot("canary").model_version if _has_canary(state) else None
    stable = state.slot("stable").model_version
    if expect_canary is not None and canary != expect_canary:
        wanted = f"canary v{expect_canary}" if expect_canary else "a recorded canary"
        return (f"expected {wanted}, but the target's canary is "
                f"{'v' + canary if canary else 'empty'}: nothing to roll back")
    if expect_champion is not None and (canary is not None or stable != expect_champion):
        now = f"v{stable}" + (f" with canary v{canary}" if canary else "")
        return (f"expected champion v{expect_champion} on stable, but the target serves {now}: "
                "nothing to restore")
    return None


def rollback(target: DeploymentTarget, registry: Registry | None, aliases: RegistryConfig,
             model_name: str, reason: str, to_version: str | None = None,
             timeout: float = 300.0, expect_canary: str | None = None,
             expect_champion: str | None = None) -> RollbackResult:
    """Restore traffic (verified), then record it in the registry when one is given.

    With `expect_canary` / `expect_champion`, act only when the target is in that state;
    otherwise change nothing and return `not_in_expected_state` (recorded on the version)."""
    if expect_canary is not None and expect_champion is not None:
        raise InputError("--expect-canary and --expect-champion exclude each other: name the "
                         "state you expect to undo, a running canary or a promoted champion")
    if expect_canary is not None or expect_champion is not None:
        why = unexpected_state(target.state(), expect_canary, expect_champion)
        if why is not None:
            expected = expect_canary or expect_champion
            if registry is not None and expected:  # "": an alias no rollout ever set
                registry.set_tags(model_name, expected, {
                    "rollback.skipped_at": now_iso(), "rollback.skipped_reason":
                    f"{why} (asked: {reason})"[:4000]})
            return RollbackResult("not_in_expected_state", None, None, why, 0.0, 0.0, True,
                                  now_iso())
    uri = f"models:/{model_name}/{to_version}" if to_version else None
    action, restored, rolled_back, seconds = rollback_traffic(target, to_version, uri, timeout)
    start = time.monotonic()
    if registry is not None:
        if action == "canary_removed":
            record_canary_rollback(registry, aliases, model_name, rolled_back, reason)
            release_stopped_rollout(registry, model_name, rolled_back)  # the lock it left
        else:
            record_restore(registry, aliases, model_name, restored or "", rolled_back, reason)
    return RollbackResult(action, restored, rolled_back, reason, seconds,
                          time.monotonic() - start, True, now_iso())
