"""`ml-actions alert-relay`: serve Alertmanager webhooks and roll back on firing alerts
labelled `ml_actions_rollback="true"`. Thin: settings -> ml_actions.rollout.alert_relay ->
uvicorn."""

from __future__ import annotations

from pathlib import Path

from ml_actions.cli.declarations import (
    TARGET_URL,
    Command,
    Inputs,
    Option,
    environment_option,
    tracking_uri_option,
)
from ml_actions.cli.runner import ActionsRunner
from ml_actions.config.settings import load_config
from ml_actions.errors import InputError
from ml_actions.registry import registry_from_config
from ml_actions.rollout.alert_relay import (
    AlertRelay,
    AlertSubject,
    build_app,
    github_dispatcher,
)
from ml_actions.rollout.rollback import RollbackResult, rollback
from ml_actions.serving_contract import ADMIN_TOKEN_ENV
from ml_actions.targets.factory import make_target

RELAY_TOKEN_ENV = "ML_ACTIONS_RELAY_TOKEN"


def make_relay(inputs: Inputs, runner: ActionsRunner) -> AlertRelay:
    config = load_config(inputs.config, inputs.environment)
    token = runner.env.get(RELAY_TOKEN_ENV, "")
    if not token:
        raise InputError(f"set {RELAY_TOKEN_ENV}: Alertmanager must send it as a bearer token "
                         "(http_config.authorization in alertmanager.yml)")
    target = make_target(inputs.target_url, runner.env.get(ADMIN_TOKEN_ENV))
    registry = registry_from_config(inputs.tracking_uri, config.registry) \
        if inputs.tracking_uri else None

    def run_rollback(subject: AlertSubject, reason: str) -> RollbackResult:
        # undo exactly what the alert is about, or nothing (recorded) if it is gone already
        version = subject.model_version
        return rollback(target, registry, config.registry, subject.model_name, reason,
                        timeout=config.canary.warmup_seconds,
                        expect_canary=version if subject.slot == "canary" else None,
                        expect_champion=version if subject.slot == "stable" else None)

    dispatch = None
    relay_cfg = config.alert_relay
    if relay_cfg.action == "dispatch":
        repository = inputs.repository or runner.env.get("GITHUB_REPOSITORY", "")
        if not inputs.github_token or "/" not in repository:
            raise InputError("alert_relay.action: dispatch sends a repository_dispatch: pass "
                             "--github-token and --repository owner/name (or set "
                             "alert_relay.action: rollback to roll back here)")
        base = runner.env.get("GITHUB_API_URL") or config.github.api_url
        dispatch = github_dispatcher(inputs.github_token, repository, base,
                                     relay_cfg.dispatch_event_type)
    return AlertRelay(relay_cfg, token, run_rollback, default_model=inputs.model_name,
                      record_path=Path(inputs.record_file) if inputs.record_file else None,
                      dispatch=dispatch)


def run(inputs: Inputs, runner: ActionsRunner) -> int:  # pragma: no cover - a server loop
    import uvicorn

    relay = make_relay(inputs, runner)
    host = inputs.host or relay.config.host
    port = inputs.port or relay.config.port
    runner.info(f"alert relay listening on http://{host}:{port}/webhook")
    uvicorn.run(build_app(relay), host=host, port=port, log_level="info")
    return 0


COMMANDS = [
    Command(
        name="alert-relay",
        help="Receive Alertmanager webhooks and roll back on firing rollback alerts.",
        run=run,
        options=(
            TARGET_URL,
            Option("model-name", "model to roll back when an alert has no model_name label"),
            tracking_uri_option("MLflow tracking server (aliases and tags)"),
            Option("config", "ml-actions.yaml"),
            environment_option(),
            Option("host", "listen address (default: alert_relay.host)", action_input=False),
            Option("port", "listen port (default: alert_relay.port)", kind="int",
                   action_input=False),
            Option("record-file", "append every incident to this JSON-lines file"),
            Option("github-token", "token for repository_dispatch (alert_relay.action: "
                   "dispatch)", secret=True,
                   env=("GITHUB_TOKEN",)),
            Option("repository", "owner/name receiving repository_dispatch"),
        ),
    )
]
