"""ml-actions.yaml: one file, a base section and per-environment overlays, as typed objects.

Built-in defaults (`config/defaults/*.yaml`, same format, one file per area) are loaded first,
the user's file is merged over them, then inline overrides (`--thresholds auc_roc=0.92`).
The environment comes from `--environment`, then `$ML_ACTIONS_ENV`, then `dev`. Every
environment of the user's file is validated, so a typo in `prod` fails in the pull request
that introduces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_actions.config.gates import (
    VALID_THRESHOLD_METRICS,
    ComparisonConfig,
    EvaluationConfig,
    SlicesConfig,
    Threshold,
)
from ml_actions.config.gateway import GatewayConfig
from ml_actions.config.loader import ENVIRONMENTS, Node, build, merge_into, read_yaml, resolve
from ml_actions.config.monitor import MonitorConfig
from ml_actions.config.rollout import AlertRelayConfig, AnalysisConfig, CanaryConfig
from ml_actions.config.serving import ServingConfig
from ml_actions.config.validation import DataValidationConfig, ValidationConfig
from ml_actions.errors import ConfigurationError

DEFAULTS_DIR = Path(__file__).with_name("defaults")
DEFAULT_CONFIG_NAME = "ml-actions.yaml"
GATE_SECTIONS = ("evaluation", "thresholds", "comparison", "slices", "validation")


@dataclass
class SparkConfig:
    """Where Spark runs: `local[*]`, a standalone master URL, or a Spark Connect remote."""

    master: str = "local[*]"
    remote: str | None = None  # sc://host:15002 selects Spark Connect
    app_name: str = "ml-actions"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class RegistryConfig:
    """How we use the MLflow Model Registry: aliases, never the deprecated stages."""

    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    validated_alias: str = "validated"
    previous_champion_alias: str = "previous-champion"
    canary_alias: str = "canary"
    retries: int = field(default=4, metadata={"range": (0, 20)})
    backoff_seconds: float = field(default=0.5, metadata={"range": (0, 60)})


@dataclass
class GithubConfig:
    """GitHub API access; `api_url` points at GitHub Enterprise Server when set."""

    api_url: str = "https://api.github.com"
    comment: bool = True
    # The login our sticky comments are found by, with their marker: the workflow token's
    # bot by default; the token owner's login when you pass a personal or app token.
    comment_author: str = "github-actions[bot]"


@dataclass
class Config:
    model_name: str = "fraud_detector"
    tracking_uri: str | None = None
    spark: SparkConfig = field(default_factory=SparkConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    thresholds: dict[str, Threshold] = field(
        default_factory=dict, metadata={"keys": VALID_THRESHOLD_METRICS})
    comparison: ComparisonConfig = field(default_factory=ComparisonConfig)
    slices: SlicesConfig = field(default_factory=SlicesConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    data_validation: DataValidationConfig = field(default_factory=DataValidationConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    serving: ServingConfig = field(default_factory=ServingConfig)
    canary: CanaryConfig = field(default_factory=CanaryConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    alert_relay: AlertRelayConfig = field(default_factory=AlertRelayConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    github: GithubConfig = field(default_factory=GithubConfig)
    # filled by the loader, not read from the file
    environment: str = field(default="dev", init=False)
    source: str = field(default="built-in defaults", init=False)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def gate_digest(self) -> str:
        """A hash of what a gate verdict depends on (bars, comparison, slices, evaluation):
        canary-deploy refuses a version validated under another one."""
        sections = {k: self.as_dict()[k] for k in GATE_SECTIONS}
        text = json.dumps(sections, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def digest(self) -> str:
        """A stable hash of the effective config, recorded with every verdict."""
        # where the file lives and which server it talks to do not change the verdict's rules
        settings = {k: v for k, v in self.as_dict().items() if k not in ("source", "tracking_uri")}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def select_environment(environment: str | None) -> str:
    env = environment or os.environ.get("ML_ACTIONS_ENV") or "dev"
    if env not in ENVIRONMENTS:
        raise ConfigurationError(
            f"environment {env!r} is not one of {', '.join(ENVIRONMENTS)}; "
            "pass --environment dev|staging|prod or set ML_ACTIONS_ENV"
        )
    return env


def load_config(path: str | Path | None = None, environment: str | None = None,
                overrides: dict[str, Any] | None = None,
                overrides_source: str = "overrides") -> Config:
    """Defaults, then the file, then overrides, for one environment, validated into `Config`."""
    env = select_environment(environment)
    user_raw = None
    if path:
        user_raw = read_yaml(Path(path))
        if user_raw is not None and not isinstance(user_raw, dict):
            raise ConfigurationError(f"{path}: expected a mapping at the top level of the file")
        for other in ENVIRONMENTS:  # every environment must be valid, not only the one in use
            if other != env:
                _assemble(user_raw, other, str(path), None, overrides_source)
    config = _assemble(user_raw, env, str(path) if path else None, overrides, overrides_source)
    config.environment = env
    config.source = str(path) if path else "built-in defaults"
    return config


def _assemble(user_raw: Any, env: str, source: str | None, overrides: dict[str, Any] | None,
              overrides_source: str) -> Config:
    merged = Node({}, "", "built-in defaults")
    for defaults in sorted(DEFAULTS_DIR.glob("*.yaml")):
        raw = read_yaml(defaults)
        if raw:
            where = f"ml_actions/config/defaults/{defaults.name}"
            merge_into(merged.value, resolve(raw, env, where))
    if user_raw:
        merge_into(merged.value, resolve(user_raw, env, source or DEFAULT_CONFIG_NAME))
    if overrides:
        merge_into(merged.value, resolve(overrides, env, overrides_source))
    return build(Config, Node(merged.value, "", source or "built-in defaults"))


def parse_threshold_overrides(text: str | None) -> dict[str, Any]:
    """`auc_roc=0.92,precision=0.85` -> `{"thresholds": {"auc_roc": {"min": 0.92}, ...}}`."""
    if not text:
        return {}
    thresholds: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(
                f"--thresholds: {part.strip()!r} is not NAME=VALUE; write e.g. "
                "auc_roc=0.92,precision=0.85"
            )
        try:
            number: Any = float(value)
        except ValueError:
            number = value.strip()
        thresholds[name.strip()] = {"min": number}
    return {"thresholds": thresholds}
