"""What every endpoint of one gateway process shares: settings, slots, metrics and auth.

The prediction and admin endpoints receive this one object, built by `app.create_app`, so none
of them imports the application that wires them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_actions.config.gateway import GatewayConfig
from ml_actions.config.serving import PredictionLogConfig
from ml_actions.serving.admin_auth import AdminAuth
from ml_actions.serving.canary_lease import CanaryLease
from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving.shadow_mirror import ShadowMirror
from ml_actions.serving.slot_manager import SlotManager


@dataclass
class Gateway:
    config: GatewayConfig
    manager: SlotManager
    metrics: GatewayMetrics
    auth: AdminAuth
    mirror: ShadowMirror
    # Which request columns the log keeps (key, amount); set even when the log is off.
    log_columns: PredictionLogConfig = field(default_factory=PredictionLogConfig)
    lease: CanaryLease | None = None  # the rollout's dead man's switch
