"""`ml-actions canary-deploy`: roll a validated version out through the gateway, judged by
Prometheus, promoted step by step or rolled back. Thin: inputs -> ml_actions.rollout.controller ->
outputs."""

from __future__ import annotations

from ml_actions.cancellation import cancel_on_sigterm
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
from ml_actions.errors import InputError, first_line
from ml_actions.registry import registry_from_config
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.prometheus_reader import (
    PrometheusReader,
    prometheus_credentials,
)
from ml_actions.rollout.audit_log import NO_AUDIT, AuditLog, open_audit
from ml_actions.rollout.controller import Rollout
from ml_actions.rollout.gauges import RolloutMetricsPublisher
from ml_actions.rollout.preflight import check_prometheus, check_target
from ml_actions.rollout.publishing import GithubRolloutPublisher
from ml_actions.rollout.report import render_markdown, write_report
from ml_actions.rollout.results import RolloutResult
from ml_actions.rollout.rollout_lock import TAKEOVER_TAG, RolloutLock, this_run
from ml_actions.rollout.start import prepare
from ml_actions.serving_contract import ADMIN_TOKEN_ENV
from ml_actions.targets.factory import make_target

EXIT_CODES = {"promoted": 0, "rolled_back": 1, "inconclusive": 1, "aborted": 2}


def schedule_overrides(inputs: Inputs) -> dict:
    canary: dict = {}
    if inputs.steps:
        try:
            canary["steps"] = [float(s.rstrip("%")) for s in inputs.steps]
        except ValueError:
            raise InputError(f"--steps: expected numbers such as 5,25,50,100, got "
                             f"{','.join(inputs.steps)}") from None
    for name in ("interval", "bake", "shadow"):
        if inputs[name]:
            canary[name] = inputs[name]
    return {"canary": canary} if canary else {}


def run(inputs: Inputs, runner: ActionsRunner) -> int:
    config = load_config(inputs.config, inputs.environment, schedule_overrides(inputs),
                         overrides_source="--steps/--interval/--bake/--shadow")
    registry = registry_from_config(inputs.tracking_uri, config.registry)
    token = runner.env.get(ADMIN_TOKEN_ENV)
    target = make_target(inputs.target_url, token)
    headers, auth = prometheus_credentials(runner.env)
    for secret in (*headers.values(), *(auth or ())):
        runner.mask(secret)
    analysis_cfg = config.analysis
    verify = False if analysis_cfg.insecure_skip_verify else (analysis_cfg.ca_bundle or True)
    if verify is False:
        runner.warning("analysis.insecure_skip_verify: Prometheus' TLS certificate is not "
                       "checked")
    reader = PrometheusReader(inputs.prometheus_url, analysis_cfg.query_timeout, verify,
                              headers, auth, retry_seconds=analysis_cfg.query_retry_seconds)
    check_target(target, inputs.target_url)
    check_prometheus(reader, analysis_cfg.seconds("scrape_interval"))
    analysis = CanaryAnalysis(reader, config.analysis)
    holder = runner.context.run_url or f"canary-deploy of {inputs.model_name}"
    publisher = RolloutMetricsPublisher(target, inputs.model_name, runner.warning,
                                        config.canary.lease_seconds, holder)
    rollout = Rollout(config, registry, target, analysis, inputs.model_name, log=runner.info,
                      publish=publisher)
    run_url = runner.context.run_url
    lock = RolloutLock(registry, inputs.model_name, this_run(runner.env, run_url))
    candidate, state = prepare(registry, config, target, inputs.model_name, inputs.candidate,
                               bool(inputs.skip_validation_check), bool(inputs.resume), run_url,
                               lock=lock)
    audit = NO_AUDIT
    try:  # from here the lock is held: released at every ending, kept for --resume after a crash
        if lock.took_over is not None:
            runner.warning(f"took over {lock.name} from {lock.took_over.describe()}: "
                           f"{lock.took_over_why} (recorded as {TAKEOVER_TAG} on "
                           f"v{candidate.version})")
        if state.validation_check == "skipped":
            runner.warning(f"v{candidate.version} was not validated; deploying because of "
                           "--skip-validation-check (recorded as rollout.validation_check="
                           "skipped)")
        elif state.validation_check == "passed-unverified":
            runner.warning(f"v{candidate.version} passed a gate whose environment, gate config "
                           "or champion was not recorded (tagged by hand, an older ml-actions, "
                           "or --skip-validation-check); deploying, recorded as "
                           "rollout.validation_check=passed-unverified")
        audit = open_audit(registry, inputs.model_name, candidate.version, candidate.tags,
                           bool(inputs.resume), runner.warning,
                           {"model": inputs.model_name, "version": candidate.version,
                            "run_id": lock.me.run_id, "run_url": run_url})
        rollout.audit = rollout.shadow.audit = audit
        audit.started(state, bool(inputs.resume), {"lock_holder": lock.me.holder,
                                                    "config_digest": config.digest()})
        github = GithubRolloutPublisher(runner.context, inputs.github_token, config,
                                        inputs.model_name, inputs.report_dir)
        github.started(candidate.version)
        for warning in github.take_warnings():
            runner.warning(warning)
        with runner.group(f"canary of {inputs.model_name} v{candidate.version}"), \
                cancel_on_sigterm("the canary was taken out of traffic before exiting"):
            result = rollout.run(candidate, state, resumed=bool(inputs.resume))
        audit.ended(result)
        result.audit_run_id, result.audit_url = audit.run_id, audit.url
        return _report(result, inputs, runner, github, audit)
    except BaseException as err:
        audit.ended(error=err)  # the first ending recorded counts
        raise
    finally:
        _finish(lock, audit, runner)


def _report(result: RolloutResult, inputs: Inputs, runner: ActionsRunner,
            github: GithubRolloutPublisher, audit: AuditLog) -> int:
    for warning in result.warnings:
        runner.warning(warning)
    path = write_report(result, inputs.report_dir)
    audit.attach_report(path)
    markdown = render_markdown(result)
    runner.add_summary(markdown)
    comment = github.finished(result, markdown)
    for warning in github.take_warnings():
        runner.warning(warning)
    runner.set_output("comment-url", comment.url or "")
    runner.set_output("result", result.result)
    runner.set_output("final-weight", result.final_weight)
    runner.set_output("rollback-seconds", result.rollback_seconds)
    runner.set_output("report-path", str(path))
    if result.result != "promoted":
        runner.error(f"canary {result.result.replace('_', ' ')}: {result.reason}",
                     title="ml-actions canary-deploy")
    return EXIT_CODES[result.result]


def _finish(lock: RolloutLock, audit: AuditLog, runner: ActionsRunner) -> None:
    """Every ending: the audit run closed, the lock released unless the rollout still runs.
    Runs in a `finally`, so it warns instead of raising: the rollout's own error is the one
    that must surface."""
    audit.close("FINISHED" if audit.result_recorded else "FAILED")  # never raises
    try:
        said = lock.release_if_ended()
    except Exception as err:  # noqa: BLE001 - see above
        runner.warning(f"could not release {lock.name} ({first_line(err)}); once this rollout "
                       "no longer runs the next canary-deploy takes it over, or delete the "
                       f"registered model {lock.name!r}")
    else:
        if said:
            runner.info(said)


COMMANDS = [
    Command(
        name="canary-deploy",
        help="Roll a validated model version out through the gateway, judged by Prometheus.",
        run=run,
        options=(
            Option("model-name", "registered model name", required=True),
            Option("candidate", "version to deploy: a number or @alias (with resume: the "
                   "running rollout's version, optional)", required_unless="resume"),
            TARGET_URL,
            Option("prometheus-url", "Prometheus that scrapes the gateway", required=True),
            Option("config", "ml-actions.yaml (optional; built-in defaults otherwise)"),
            environment_option(),
            tracking_uri_option("MLflow tracking server"),
            Option("report-dir", "where rollout-report.json is written",
                   default="ml-actions-report"),
            Option("github-token", "token for the PR comment and deployment statuses",
                   secret=True, env=("GITHUB_TOKEN",)),
            Option("resume", "continue the running rollout recorded in the registry",
                   kind="bool", default="false"),
            Option("skip-validation-check", "deploy a version without validation.status=passed "
                   "(recorded)", kind="bool", default="false"),
            Option("steps", "traffic steps in percent, e.g. 5,25,50,100", kind="list"),
            Option("interval", "how long each step is held, e.g. 30s or 5m"),
            Option("bake", "how long full traffic is held before promoting, e.g. 10m"),
            Option("shadow", "shadow phase before the first step, e.g. 2m: the candidate "
                   "scores mirrored requests off the response path (overrides canary.shadow; "
                   "0s: none)"),
        ),
    )
]
