"""validate-model, end to end: config -> registry -> evaluate -> decide -> record -> report.

The verdict is made by `ml_actions.validation.gates.decide` on what
`ml_actions.validation.evaluation.evaluate` measured; this
module only wires them and leaves evidence everywhere a reviewer looks: an MLflow run in the
`model-validation` experiment (metrics, the JSON report, ROC/PR images), tags on the candidate
version (status, run id, AUC, config and test data digests, override details), the alias
`validated` on a pass, and the report files. The gate never moves `champion`: promotion is
the canary release's job, after traffic has judged the model.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ml_actions.config.settings import Config, load_config, parse_threshold_overrides
from ml_actions.errors import ConfigurationError, RegistryError
from ml_actions.redaction import redact
from ml_actions.registry import ModelVersionRef, Registry, registry_from_config
from ml_actions.validation.report import (
    ValidationContext,
    build_report,
    plot_curves,
    render_markdown,
    write_reports,
)
from ml_actions.validation.results import EvaluationResult, GateDecision

TAG = "validation."
OVERRIDE_TAGS = (f"{TAG}override_reason", f"{TAG}override_actor",
                 f"{TAG}override_failed_checks")


@dataclass
class ValidationRequest:
    """The inputs of one validation, typed once (the command parses the strings)."""

    model_name: str
    test_data: str
    candidate: str = "@challenger"
    champion_alias: str = "champion"
    label_column: str | None = None
    config_path: str | None = None
    thresholds: str | None = None
    environment: str | None = None
    tracking_uri: str | None = None
    report_dir: str = "."
    override_reason: str | None = None
    actor: str | None = None


@dataclass
class ValidationOutcome:
    passed: bool
    report: dict[str, Any]
    markdown: str
    json_path: Path
    md_path: Path
    run_id: str
    config: Config
    warnings: list[str] = field(default_factory=list)


def load_validation_config(request: ValidationRequest) -> Config:
    overrides = parse_threshold_overrides(request.thresholds)
    config = load_config(request.config_path, request.environment, overrides, "--thresholds")
    if request.label_column:
        config.evaluation.label_column = request.label_column
    config.tracking_uri = request.tracking_uri or config.tracking_uri or os.environ.get(
        "MLFLOW_TRACKING_URI")
    protected = {request.champion_alias, config.registry.champion_alias}
    if config.registry.validated_alias in protected:
        raise ConfigurationError(
            f"registry.validated_alias is {config.registry.validated_alias!r}, the champion "
            "alias: the gate never moves the champion; choose another name (default: validated)")
    return config


def run_validation(request: ValidationRequest) -> ValidationOutcome:
    from ml_actions.spark import get_spark
    from ml_actions.validation.evaluation import evaluate
    from ml_actions.validation.gates import decide
    from ml_actions.validation.serving_parity import check_serving_parity
    from ml_actions.validation.test_data import load_test_data

    timings: dict[str, float] = {}
    started = mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        timings[f"{name}_seconds"] = now - mark
        mark = now

    config = load_validation_config(request)
    registry = registry_from_config(config.tracking_uri, config.registry)
    candidate = registry.resolve(request.model_name, request.candidate)
    roles = (config.registry.challenger_alias, config.registry.validated_alias,
             config.registry.canary_alias)
    champion = registry.find_champion(request.model_name, request.champion_alias, roles)
    warnings: list[str] = []
    if champion is not None and champion.version == candidate.version:
        warnings.append(f"the candidate v{candidate.version} is the current @"
                        f"{request.champion_alias}; comparison checks are skipped")
        champion = None
    lap("registry")
    spark = get_spark(config.spark)
    label_source = ("--label-column" if request.label_column
                    else f"evaluation.label_column of {config.source}")
    test_df = load_test_data(spark, request.test_data, config.evaluation.label_column,
                             check_labels=False,  # checked in the evaluation's one pass
                             label_source=label_source)
    lap("load")
    evaluation, champion = _evaluate(evaluate, spark, test_df, candidate, champion, config,
                                     warnings)
    lap("evaluate")
    parity = check_serving_parity(test_df, candidate, evaluation.candidate.decision_threshold,
                                  config)
    lap("serving_parity")
    decision = decide(evaluation, config, request.override_reason, request.actor,
                      extra_checks=[parity.check])
    lap("decide")
    run_id, run_url = _start_run(registry, config, candidate)
    lap("record")
    timings["total_seconds"] = time.monotonic() - started  # recording the report: not in it
    context = ValidationContext(
        candidate=candidate, champion=champion, champion_alias=request.champion_alias,
        environment=config.environment,
        config_source=config.source, config_digest=config.digest(),
        thresholds={k: {"min": v.min, "max": v.max} for k, v in config.thresholds.items()},
        test_data_uri=request.test_data, label_column=config.evaluation.label_column,
        experiment_name=config.validation.experiment_name, run_id=run_id, run_url=run_url,
        actor=request.actor, timings=timings, warnings=warnings,
        serving_parity=parity.result.as_report() if parity.result else None)
    report = build_report(evaluation, decision, context)
    markdown = render_markdown(report, config.validation)
    json_path, md_path = write_reports(report, markdown, Path(request.report_dir))
    _log_run(registry, run_id, report, evaluation, json_path, md_path)
    _tag_version(registry, candidate, report, decision, config)
    return ValidationOutcome(bool(decision.passed), report, markdown, json_path, md_path,
                             run_id, config, warnings)


def _evaluate(evaluate, spark, test_df, candidate: ModelVersionRef,
              champion: ModelVersionRef | None, config: Config,
              warnings: list[str]) -> tuple[EvaluationResult, ModelVersionRef | None]:
    """Evaluate; a champion that cannot be used fails the run or is dropped, per config."""
    from ml_actions.validation.scoring import ChampionError

    try:
        return evaluate(spark, test_df, candidate, champion, config), champion
    except ChampionError as err:
        if config.validation.champion_load_failure == "fail":
            raise RegistryError(f"{err} (set validation.champion_load_failure: warn to "
                                "validate without the champion)") from err
        warnings.append(f"the champion could not be used, so nothing was compared with it: "
                        f"{err}")
    return evaluate(spark, test_df, candidate, None, config), None


# -- MLflow ------------------------------------------------------------------------------------
def _start_run(registry: Registry, config: Config, candidate: ModelVersionRef
               ) -> tuple[str, str | None]:
    client, name = registry.client, config.validation.experiment_name

    def experiment_id() -> str:
        found = client.get_experiment_by_name(name)
        return found.experiment_id if found else client.create_experiment(name)

    exp_id = registry.call(f"open experiment {name!r}", experiment_id)
    run = registry.call("create the validation run", lambda: client.create_run(
        exp_id, run_name=f"validate {candidate.name} v{candidate.version}",
        tags={"ml_actions.model_name": candidate.name,
              "ml_actions.model_version": candidate.version,
              "ml_actions.environment": config.environment}))
    run_id = run.info.run_id
    uri = str(registry.tracking_uri)
    # quoted: the URL goes into a Markdown link, where a space or `)` would end it
    url = quote(f"{redact(uri).rstrip('/')}/#/experiments/{exp_id}/runs/{run_id}",
                safe=":/#?=&%@*") \
        if uri.startswith(("http://", "https://")) else None
    return run_id, url


def run_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Every finite number worth plotting across validations, flat."""
    out: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            out[key] = float(value)

    for key, value in report["metrics"].items():
        put(key, value)
    for key, value in report["confusion"].items():
        put(f"confusion_{key}", value)
    for key, value in ((report["champion"] or {}).get("metrics") or {}).items():
        put(f"champion_{key}", value)
    auc = (report["comparison"] or {}).get("auc") or {}
    put("delta_auc_roc", auc.get("delta"))
    if auc.get("interval"):
        put("delta_auc_roc_ci_low", auc["interval"][0])
        put("delta_auc_roc_ci_high", auc["interval"][1])
    put("test_rows", report["test_data"]["rows"])
    put("test_positives", report["test_data"]["positives"])
    put("passed", int(report["passed"]))
    put("failed_checks", len(report["failed_checks"]))
    return out


def _log_run(registry: Registry, run_id: str, report: dict[str, Any],
             evaluation: EvaluationResult, json_path: Path, md_path: Path) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client = registry.client
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in run_metrics(report).items()]
    champion = report["champion"]
    params = {"model_name": report["model"]["name"], "model_version": report["model"]["version"],
              "champion_version": champion["version"] if champion else "none",
              "environment": report["environment"], "config_digest": report["config"]["digest"],
              "config_source": report["config"]["source"][:500],
              "test_data": report["test_data"]["uri"][:500],
              "test_data_digest": report["test_data"]["digest"],
              "label_column": report["test_data"]["label_column"],
              "decision_threshold": report["decision_threshold"]}
    tags = {"ml_actions.verdict": report["verdict"], "ml_actions.actor": report["actor"] or ""}
    registry.call("log the validation run", lambda: client.log_batch(
        run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()]))
    # the plots stay next to the reports too, so a CI job can upload the whole report dir
    for path in [json_path, md_path, *plot_curves(evaluation, json_path.parent)]:
        registry.call(f"upload {path.name}", lambda p=path: client.log_artifact(
            run_id, str(p), "validation"))
    registry.call("close the validation run", lambda: client.set_terminated(run_id, "FINISHED"))


def _tag_version(registry: Registry, candidate: ModelVersionRef, report: dict[str, Any],
                 decision: GateDecision, config: Config) -> None:
    """Tags say what the verdict was made on; `validated` follows the verdict, never champion."""
    name, version = candidate.name, candidate.version
    tags: dict[str, object] = {
        f"{TAG}status": report["verdict"], f"{TAG}run_id": report["mlflow_run_id"],
        f"{TAG}auc_roc": report["metrics"].get("auc_roc"),
        f"{TAG}config_digest": report["config"]["digest"],
        f"{TAG}gate_digest": config.gate_digest(),  # canary-deploy compares it with its own
        f"{TAG}test_data_digest": report["test_data"]["digest"],
        f"{TAG}environment": report["environment"],
        f"{TAG}champion_version": (report["champion"] or {}).get("version", "none"),
        f"{TAG}validated_at": report["generated_at"],
        # the gateway serves a version's ONNX form only when this is not "fail"
        f"{TAG}serving_parity": next((c["status"] for c in report["checks"]
                                      if c["name"] == "serving_parity"), "skip"),
    }
    override = report["override"]
    if override:
        tags.update({OVERRIDE_TAGS[0]: (override["reason"] or "")[:4000],
                     OVERRIDE_TAGS[1]: override["actor"] or "unknown",
                     OVERRIDE_TAGS[2]: ",".join(override["failed_checks"])[:4000]})
    registry.set_tags(name, version, tags)
    if not override:
        stale = [t for t in OVERRIDE_TAGS if t in candidate.tags]
        for key in stale:
            registry.delete_tag(name, version, key)
    alias = config.registry.validated_alias
    if decision.passed:
        registry.set_alias(name, alias, version)
    elif config.validation.clear_validated_on_fail:
        current = registry.find_alias(name, alias)
        if current is not None and current.version == version:
            registry.delete_alias(name, alias)
