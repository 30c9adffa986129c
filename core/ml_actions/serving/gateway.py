"""What every endpoint of one gateway process shares: settings, slots, metrics and auth.

The prediction and admin endpoints receive this one object, built by `app.create_app`, so none
of them imports the application that wires them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_actions.config.gateway import GatewayConfig
from ml_actions.serving.admin_auth import AdminAuth
from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving.slot_manager import SlotManager


@dataclass
class Gateway:
    config: GatewayConfig
    manager: SlotManager
    metrics: GatewayMetrics
    auth: AdminAuth
