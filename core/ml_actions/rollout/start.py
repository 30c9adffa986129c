"""What `canary-deploy` checks before any traffic moves, and how `--resume` finds its rollout.

A candidate is refused unless its version carries `validation.status=passed` (the gate's
verdict), unless the user overrides it, which is then recorded on the version. Only one rollout
per model runs at a time: the rollout lock (`rollout_lock`) is taken by compare-and-set before
any tag or traffic changes, so of two runners starting at once exactly one proceeds; the
`canary` alias marks the running rollout, and its tags say where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ml_actions.config.settings import Config
from ml_actions.errors import InputError
from ml_actions.registry import ModelVersionRef, Registry
from ml_actions.rollout.provenance import check_provenance
from ml_actions.rollout.rollout_lock import HOLDER_TAG, TAKEOVER_TAG, RolloutLock, this_run
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
            run_url: str = "", lock: RolloutLock | None = None
            ) -> tuple[ModelVersionRef, RolloutState]:
    """The candidate and the state to run it from: fresh, or the one `--resume` continues.

    Holds `lock` (a new one for this process when None) from before the first write: the
    caller releases it when the rollout ends; a refusal here releases it at once."""
    lock = lock or RolloutLock(registry, model_name, this_run(run_url=run_url))
    if resume:
        return _resume(registry, config, target, model_name, candidate, lock)
    if not candidate:
        raise InputError("missing required input 'candidate': pass --candidate 7 or @challenger")
    ref = registry.resolve(model_name, candidate)
    lock.acquire(ref.version)
    with _released_on_error(lock):
        running = running_rollout(registry, config, model_name)  # one begun without the lock
        if running is not None:
            ref_running, state = running
            raise InputError(
                f"a rollout of v{ref_running.version} is already running ({state.phase} at "
                f"{state.weight:g}%); pass --resume to continue it or run `ml-actions rollback` "
                "to stop it")
        state = _fresh_state(registry, config, target, model_name, ref, skip_validation,
                             run_url)
        registry.set_tags(model_name, ref.version, state.to_tags())
        _record_holder(registry, model_name, ref, lock)  # after the state: see rollout_lock
        return ref, state


def _resume(registry: Registry, config: Config, target: DeploymentTarget, model_name: str,
            candidate: str | None, lock: RolloutLock) -> tuple[ModelVersionRef, RolloutState]:
    running = running_rollout(registry, config, model_name)
    if running is None:
        raise InputError(
            f"--resume: no rollout of {model_name!r} is running (no version carries "
            f"@{config.registry.canary_alias} with rollout.status=running); start one "
            "without --resume"
        )
    ref, state = running
    if candidate and registry.resolve(model_name, candidate).version != ref.version:
        raise InputError(
            f"--resume: the running rollout is of v{ref.version}, not {candidate}; drop "
            "--candidate or pass the running version"
        )
    lock.acquire(ref.version, adopt=True)  # the dead runner's lock becomes ours
    with _released_on_error(lock):
        lapsed = lease_expired_since(target, state.started_at)
        if lapsed:  # the gateway dropped the canary while nobody ran: say so on the version
            registry.set_tags(model_name, ref.version, {"rollout.lease_expired_at": lapsed})
        _record_holder(registry, model_name, ref, lock)
        return ref, state


def _fresh_state(registry: Registry, config: Config, target: DeploymentTarget, model_name: str,
                 ref: ModelVersionRef, skip_validation: bool, run_url: str) -> RolloutState:
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
    return state


def _record_holder(registry: Registry, model_name: str, ref: ModelVersionRef,
                   lock: RolloutLock) -> None:
    """The lock's holder on the version (what makes the lock judgeable), and any takeover."""
    tags = {HOLDER_TAG: lock.me.holder}
    if lock.took_over is not None:
        tags[TAKEOVER_TAG] = f"{now_iso()}: took over {lock.took_over.describe()} " \
                             f"({lock.took_over_why})"
    elif ref.tags.get(TAKEOVER_TAG):
        tags[TAKEOVER_TAG] = ""  # an earlier rollout's takeover, not this one's
    registry.set_tags(model_name, ref.version, tags)


@contextmanager
def _released_on_error(lock: RolloutLock) -> Iterator[None]:
    """A refusal after the lock was taken gives it back; the refusal is what is reported."""
    try:
        yield
    except BaseException:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - unreleased, it goes stale; the refusal matters
            pass
        raise


def lease_expired_since(target: DeploymentTarget, since: str | None) -> str | None:
    """When the target's dead man's switch last took this rollout's canary out of traffic."""
    times = [h.get("at") for h in target.state().history
             if h.get("action") == "lease_expired" and (since is None or h.get("at", "") >= since)]
    return max(times) if times else None
