"""`ml-actions rollback`: take a bad model out of traffic in one call, then fix the registry.

Kills a running canary, or after a full promotion puts the warm previous champion back, or
with `--to-version` loads that version into the stable slot. Exit 0 only once the target
reports 100 % of traffic on the restored version; prints and outputs the seconds it took.
"""

from __future__ import annotations

import json
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
from ml_actions.report_documents import to_jsonable
from ml_actions.rollout.rollback import rollback
from ml_actions.serving_contract import ADMIN_TOKEN_ENV
from ml_actions.targets.factory import make_target
from ml_actions.templating import render


def run(inputs: Inputs, runner: ActionsRunner) -> int:
    config = load_config(inputs.config, inputs.environment)
    target = make_target(inputs.target_url, runner.env.get(ADMIN_TOKEN_ENV))
    registry = registry_from_config(inputs.tracking_uri, config.registry) \
        if inputs.tracking_uri else None
    if registry is None:
        runner.warning("no --tracking-uri: traffic is restored but the registry (aliases, "
                       "rollout tags) is not updated")
    expect_canary = _version(inputs.expect_canary, registry, inputs.model_name)
    expect_champion = _version(inputs.expect_champion, registry, inputs.model_name)
    result = rollback(target, registry, config.registry, inputs.model_name, inputs.reason,
                      inputs.to_version, timeout=config.canary.warmup_seconds,
                      expect_canary=expect_canary, expect_champion=expect_champion)
    if result.action == "not_in_expected_state":
        runner.notice(f"no rollback: {result.reason}", title="ml-actions rollback")
    else:
        runner.info(f"rolled back ({result.action}): v{result.restored_version} serves 100% "
                    f"of traffic after {result.seconds:.3f} s (registry "
                    f"{result.registry_seconds:.2f} s)")
    if inputs.report_dir:
        folder = Path(inputs.report_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rollback-report.json").write_text(
            json.dumps(to_jsonable(result), indent=2) + "\n", encoding="utf-8")
    runner.add_summary(render("rollout/templates/rollback_report.md.j2", r=result,
                              model_name=inputs.model_name))
    runner.set_output("rollback-seconds", round(result.seconds, 3))
    runner.set_output("restored-version", result.restored_version)
    runner.set_output("action", result.action)
    return 0


def _version(expected: str | None, registry, model_name: str) -> str | None:
    """A version number as given, or the version an `@alias` points at ("" when unset: then
    nothing matches, which is what a clean-up job wants when no canary was recorded)."""
    if not expected or not expected.startswith("@"):
        return expected
    if registry is None:
        raise InputError(f"--expect-canary/--expect-champion {expected}: an alias needs "
                         "--tracking-uri to resolve it")
    found = registry.find_alias(model_name, expected[1:])
    return found.version if found is not None else ""


COMMANDS = [
    Command(
        name="rollback",
        help="Restore the previous model on the target now; exit 0 once traffic is verified.",
        run=run,
        options=(
            Option("model-name", "registered model name", required=True),
            TARGET_URL,
            Option("reason", "why; recorded on the rolled-back version", required=True),
            Option("to-version", "restore this version instead of the warm previous one"),
            Option("expect-canary", "act only if this version (or @alias) is the live "
                   "canary; otherwise change nothing (exit 0, recorded)"),
            Option("expect-champion", "act only if this version serves stable with no canary "
                   "(a post-promotion restore); otherwise change nothing (exit 0, recorded)"),
            tracking_uri_option("MLflow tracking server (to update aliases and tags)"),
            Option("config", "ml-actions.yaml (alias names, timeouts)"),
            environment_option(),
            Option("report-dir", "where rollback-report.json is written (optional)"),
        ),
    )
]
