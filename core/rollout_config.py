"""Settings of a canary rollout, its Prometheus analysis and the alert relay."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CanaryConfig:
    steps: list[float] = field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    interval: str = "5m"
    bake: str = "10m"


@dataclass
class AnalysisConfig:
    query_window: str = "1m"


@dataclass
class AlertRelayConfig:
    port: int = field(default=9095, metadata={"range": (1, 65535)})
