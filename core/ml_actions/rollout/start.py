"""What `canary-deploy` checks before any traffic moves, and how `--resume` finds its rollout.

A candidate is refused unless its version carries `validation.status=passed` (the gate's
verdict), unless the user overrides it, which is then recorded on the version. Only one rollout
per model runs at a time: the `canary` alias marks it, and its tags say where it stopped.
"""

from __future__ import annotations

from ml_actions.config.settings import Config
from ml_actions.errors import InputError
from ml_actions.registry import ModelVersionRef, Registry
from ml_actions.rollout.provenance import check_provenance
from ml_actions.rollout.state import RolloutState
from ml_actions.targets.base import DeploymentTarget
from ml_actions.timestamps import now_iso

VALIDATION_TAG = "validation.status"


def running_rollout(registry: Registry, config: Config,
                    model_name: str) -> tuple[ModelVersionRef, RolloutState] | None:
    """The version behind the `canary` alias and its state, when one is still running."""
    ref = registry.find_alias(model_name, config.registry.canary_alias)
    if ref is None:
        return None
    state = RolloutState.from_tags(ref.tags)
    if state is None or state.status != "running":
        return None
    return ref, state


def prepare(registry: Registry, config: Config, target: DeploymentTarget, model_name: str,
            candidate: str | None, skip_validation: bool, resume: bool,
            run_url: str = "") -> tuple[ModelVersionRef, RolloutState]:
    """The candidate and the state to run it from: fresh, or the one `--resume` continues."""
    running = running_rollout(registry, config, model_name)
    if resume:
        if running is None:
            raise InputError(
                f"--resume: no rollout of {model_name!r} is running (no version carries "
                f"@{config.registry.canary_alias} with rollout.status=running); start one "
                "without --resume"
            )
        ref, state = running
        lapsed = lease_expired_since(target, state.started_at)
        if lapsed:  # the gateway dropped the canary while nobody ran: say so on the version
            registry.set_tags(model_name, ref.version, {"rollout.lease_expired_at": lapsed})
        if candidate and registry.resolve(model_name, candidate).version != ref.version:
            raise InputError(
                f"--resume: the running rollout is of v{ref.version}, not {candidate}; drop "
                "--candidate or pass the running version"
            )
        return ref, state
    if not candidate:
        raise InputError("missing required input 'candidate': pass --candidate 7 or @challenger")
    if running is not None:
        ref, state = running
        raise InputError(
            f"a rollout of v{ref.version} is already running ({state.phase} at "
            f"{state.weight:g}%); pass --resume to continue it or run `ml-actions rollback` to "
            "stop it"
        )
    ref = registry.resolve(model_name, candidate)
    status = ref.tags.get(VALIDATION_TAG)
    if status != "passed" and not skip_validation:
        raise InputError(
            f"v{ref.version} of {model_name!r} has {VALIDATION_TAG}={status or 'unset'}; only "
            "versions that passed validate-model are deployed (pass --skip-validation-check to "
            "override; the override is recorded on the version)"
        )
    verified = status == "passed" and not skip_validation and check_provenance(
        registry, config, ref)
    stable = target.state().slot("stable")
    if stable.status != "ready":
        raise InputError(
            "the target has no ready stable model to compare the canary with; load the current "
            "champion into the stable slot first"
        )
    if stable.model_version == ref.version and (stable.model_name in (None, model_name)):
        raise InputError(f"v{ref.version} already serves as stable; nothing to roll out")
    state = RolloutState(
        status="running", phase="loading", step_index=0, weight=0.0,
        steps=list(config.canary.steps), stable_version=stable.model_version or "",
        started_at=now_iso(), validation_check=("skipped" if status != "passed"
                          else "passed" if verified else "passed-unverified"),
        environment=config.environment, run_url=run_url,
    )
    state.updated_at = state.started_at
    registry.set_tags(model_name, ref.version, state.to_tags())
    return ref, state


def lease_expired_since(target: DeploymentTarget, since: str | None) -> str | None:
    """When the target's dead man's switch last took this rollout's canary out of traffic."""
    times = [h.get("at") for h in target.state().history
             if h.get("action") == "lease_expired" and (since is None or h.get("at", "") >= since)]
    return max(times) if times else None
