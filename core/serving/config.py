"""Settings of the serving gateway."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GatewayConfig:
    routing_key: str | None = "CUSTOMER_ID"
    decision_threshold: float = field(default=0.5, metadata={"range": (0, 1)})
