"""The guard period after a promotion: the previous champion keeps shadow-scoring.

Why: fraud labels arrive days after a transaction, so whether the new champion catches less
fraud than the one it replaced is only known then. If the replaced model keeps scoring the
same requests in the gateway's shadow slot (its scores land in the prediction log beside the
champion's), `ml-actions monitor` can compare the two on the same transactions once labels
mature (paired DeLong and McNemar) instead of on different weeks of traffic.

`start_shadow(previous champion, share 1.0, until=now + monitor.guard_period)`: the gateway
stops it by itself at `until` (kept across restarts). The new champion's version records
`monitor.guard_until` (ISO time) and `monitor.shadow_version`. A failure to start it is a
warning, never a failed rollout: the promotion already happened and was judged sound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ml_actions.config.settings import Config
from ml_actions.registry import Registry
from ml_actions.targets.base import DeploymentTarget
from ml_actions.timestamps import iso_from_epoch

GUARD_UNTIL_TAG = "monitor.guard_until"
SHADOW_VERSION_TAG = "monitor.shadow_version"


@dataclass
class GuardPeriod:
    """The previous champion's shadow after a promotion, or why it did not start."""

    shadow_version: str
    until: str  # ISO time the gateway stops the shadow by itself
    started: bool
    warning: str = ""


def start_guard_period(config: Config, registry: Registry, target: DeploymentTarget,
                       model_name: str, champion: str, previous: str | None
                       ) -> GuardPeriod | None:
    """Shadow `previous` beside the new `champion`; None when there is nothing to guard."""
    seconds = config.monitor.guard_period_seconds
    if not previous or previous == champion or seconds <= 0:
        return None
    until = time.time() + seconds
    guard = GuardPeriod(previous, iso_from_epoch(until), False)
    try:
        uri = registry.resolve(model_name, previous).uri
        target.start_shadow(uri, 1.0, until=until, timeout=config.canary.warmup_seconds)
        guard.started = True
        registry.set_tags(model_name, champion, {GUARD_UNTIL_TAG: guard.until,
                                                 SHADOW_VERSION_TAG: previous})
    except Exception as err:  # noqa: BLE001 - a warning by design: the promotion stands
        what = "recording" if guard.started else "starting"
        guard.warning = (f"guard period: {what} the shadow of the previous champion "
                         f"v{previous} failed ({type(err).__name__}: {err}); the monitor "
                         f"cannot pair v{champion} with it on the same transactions; start it "
                         "with the gateway's POST /admin/shadow")
    return guard
