"""A `degraded` verdict undone: traffic back to the predecessor, then the registry.

The traffic change is `rollout.rollback.rollback` with `expect_champion`: it acts only while
the degraded champion still serves stable, so a rerun of the monitor, or a release that
already replaced the champion, cannot demote a model nobody judged. Without a target, only
the registry moves (`champion` back to the predecessor), for deployments that follow the alias.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_actions.config.settings import Config
from ml_actions.registry import Registry
from ml_actions.rollout.rollback import record_restore, rollback
from ml_actions.targets.factory import make_target
from ml_actions.timestamps import now_iso


@dataclass
class MonitorRollback:
    rolled_back: bool
    action: str | None = None  # previous_restored | version_loaded | registry_only | ...
    restored_version: str | None = None
    rolled_back_version: str | None = None
    seconds: float | None = None  # decision -> target verified on the restored version
    registry_updated: bool = False
    note: str | None = None  # why nothing was rolled back


def roll_back_champion(config: Config, model_name: str, champion: str, predecessor: str,
                       reason: str, target_url: str | None, admin_token: str | None,
                       registry: Registry | None) -> MonitorRollback:
    """Restore `predecessor` (target first, then registry); never raises for a skipped one."""
    if not config.monitor.rollback:
        return MonitorRollback(False, note="monitor.rollback is false: the degraded champion "
                               "keeps serving; roll back with `ml-actions rollback`")
    if target_url:
        target = make_target(target_url, admin_token)
        result = rollback(target, registry, config.registry, model_name, reason,
                          to_version=predecessor, timeout=config.canary.warmup_seconds,
                          expect_champion=champion)
        if result.action == "not_in_expected_state":
            return MonitorRollback(False, result.action, note=result.reason)
        done = MonitorRollback(True, result.action, result.restored_version,
                               result.rolled_back_version, result.seconds, registry is not None)
        stop_shadow = getattr(target, "stop_shadow", None)
        if callable(stop_shadow):  # the predecessor serves again: nothing left to shadow
            try:
                stop_shadow()
            except Exception as err:  # noqa: BLE001 - traffic is already restored
                done.note = f"the shadow slot could not be stopped: {err}"
    elif registry is not None:
        record_restore(registry, config.registry, model_name, predecessor, champion, reason)
        done = MonitorRollback(True, "registry_only", predecessor, champion, None, True,
                               note="no --target-url: only the registry's champion alias "
                               "moved; deployments that follow it pick it up")
    else:
        return MonitorRollback(False, note="neither --target-url nor --tracking-uri was given: "
                               "nothing to roll back through")
    if registry is not None:
        registry.set_tags(model_name, champion, {
            "monitor.verdict": "degraded", "monitor.rolled_back_at": now_iso(),
            "monitor.reason": reason[:4000], "monitor.restored_version": predecessor})
    return done
