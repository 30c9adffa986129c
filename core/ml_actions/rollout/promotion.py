"""The promotion, whose commit point is the traffic flip; everything after it only converges.

Before the flip a failure takes the canary out of traffic (fail safe). After it the candidate
serves 100 % on stable and the old champion is warm in `previous`, so the rules change:
- rolling back then would be a decision nobody made (the bake passed), and recording the
  rollout `aborted` would contradict the traffic; an error after the flip says where traffic
  is and that `--resume` finishes the registry (`after_flip_error`);
- promoting again would push the old champion out of `previous` (the target's promote moves
  stable there), losing the instant rollback. The flip is therefore recorded (`flipped_at`) as
  soon as the target confirms it, and a resume also recognises a flip whose record was lost
  (the runner or MLflow died in between) from the target itself: stable serves the candidate;
- the registry writes after the flip are idempotent and name the champion recorded before it
  (`previous_champion`), so a resume repeats them safely however far the last run got. Once
  the state says `promoted` the rollout is over: what follows (mirror tags, removing @canary)
  is tidying, and its failure is a warning saying what to fix, not an error.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_actions.config.settings import Config
from ml_actions.errors import InfrastructureError, InputError, MlActionsError, first_line
from ml_actions.registry import ModelVersionRef, Registry
from ml_actions.rollout.state import MirrorWriteError, RolloutState
from ml_actions.targets.base import DeploymentTarget
from ml_actions.timestamps import now_iso

Save = Callable[[str, RolloutState], None]


def serves_candidate(target: DeploymentTarget, model_name: str, version: str) -> bool:
    """Whether the target's stable slot serves `version` of `model_name` (the flip happened)."""
    stable = target.state().slot("stable")
    return (stable.status == "ready" and stable.model_version == version
            and stable.model_name in (None, model_name))


def flipped(target: DeploymentTarget, model_name: str, version: str,
            state: RolloutState) -> bool:
    """Whether traffic was already flipped to the candidate: recorded, or seen on the target
    while promoting (a flip the target made but whose call or record failed). A target that
    cannot be asked counts as not flipped: the caller's fail-safe path then cannot reach it
    either, and changes nothing."""
    if state.flipped_at:
        return True
    if state.phase != "promoting":
        return False
    try:
        return serves_candidate(target, model_name, version)
    except Exception:  # noqa: BLE001 - unknown: the fail-safe path decides, changing nothing
        return False


def check_resumed_flip(target: DeploymentTarget, model_name: str, candidate: ModelVersionRef,
                       state: RolloutState, log: Callable[[str], None]) -> bool:
    """On `--resume` in `promoting`: True when the flip is done, recording one the last run
    made without writing it down. A recorded flip that the target no longer shows means
    someone changed traffic since: resuming must not promote again, nor pretend it did."""
    if state.phase != "promoting":
        return False
    serving = serves_candidate(target, model_name, candidate.version)
    if state.flipped_at and not serving:
        raise InputError(
            f"--resume: the flip to v{candidate.version} was recorded at {state.flipped_at}, "
            "but the target's stable slot no longer serves it: traffic was changed since; "
            "nothing was changed now. Check the gateway's /admin/state, then run "
            "`ml-actions rollback` or deploy again")
    if serving and not state.flipped_at:
        state.flipped_at = now_iso()
        log(f"resuming after the flip: v{candidate.version} already serves 100 % on stable; "
            "not promoting again, only the registry is brought up to date")
    return serving


def after_flip_error(version: str, state: RolloutState, err: BaseException
                     ) -> InfrastructureError:
    """The one line a failure after the commit point exits with (exit 2): traffic stays."""
    return InfrastructureError(
        f"traffic is on v{version} (flipped to 100 % at {state.flipped_at or 'the promote'}), "
        f"but the rollout stopped before the registry was up to date ({first_line(err, 200)}); "
        "run canary-deploy --resume to converge the registry (aliases, status): it does not "
        "move traffic")


def promote(config: Config, registry: Registry, target: DeploymentTarget, model_name: str,
            candidate: ModelVersionRef, state: RolloutState, save: Save,
            log: Callable[[str], None]) -> tuple[str, list[str]]:
    """Flip traffic once (the commit point), then converge the registry; returns the old
    champion and warnings about tidying that failed after the rollout was recorded promoted."""
    aliases = config.registry
    if not state.flipped_at:
        if not state.previous_champion:
            champion = registry.find_alias(model_name, aliases.champion_alias)
            state.previous_champion = (champion.version if champion and champion.version
                                       != candidate.version else "") or state.stable_version
        state.phase = "promoting"
        save(candidate.version, state)
        target.promote()
        state.flipped_at = now_iso()
        log(f"flipped: v{candidate.version} serves 100 % on stable, the old stable "
            f"v{state.stable_version or '?'} stays warm in previous")
        save(candidate.version, state)
    old = state.previous_champion
    if old and old != candidate.version:
        registry.set_alias(model_name, aliases.previous_champion_alias, old)
    registry.set_alias(model_name, aliases.champion_alias, candidate.version)
    state.status, state.phase, state.weight = "promoted", "done", 100.0
    warnings = []
    try:
        save(candidate.version, state)
    except MirrorWriteError as err:
        warnings.append(f"{err}: rollout.state is the record (promoted); the mirrors, such "
                        "as rollout.status, are informational and may still say running")
    # After the status: a @canary left behind is harmless (the next rollout moves it), a
    # status left `running` beside a promoted champion would not be.
    try:
        registry.delete_alias(model_name, aliases.canary_alias)
    except MlActionsError as err:
        warnings.append(f"v{candidate.version} is promoted, but @{aliases.canary_alias} could "
                        f"not be removed ({first_line(err, 200)}): harmless, the next rollout "
                        "moves it; or delete it in the MLflow UI")
    return old, warnings
