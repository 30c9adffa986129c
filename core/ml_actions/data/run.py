"""validate-data, end to end: config -> schema -> data -> checks -> report files."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_actions.config.settings import load_config
from ml_actions.data.reading import read_table
from ml_actions.data.report import build_data_report, render_data_markdown, write_data_reports
from ml_actions.data.schema import load_schema_file, schema_from_signature
from ml_actions.data.validation import effective_rules, require_label, validate
from ml_actions.errors import ConfigurationError
from ml_actions.registry import registry_from_config
from ml_actions.spark import get_spark


@dataclass
class DataValidationRequest:
    data: str
    schema_path: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    label_column: str | None = None
    config_path: str | None = None
    environment: str | None = None
    tracking_uri: str | None = None
    report_dir: str = "."


def run_data_validation(request: DataValidationRequest) -> tuple[dict[str, Any], str, Path]:
    """Config -> schema -> data -> checks -> report files; returns (report, markdown, json)."""
    started = time.monotonic()
    config = load_config(request.config_path, request.environment)
    if request.schema_path:
        schema = load_schema_file(Path(request.schema_path), config.environment)
    elif request.model_name:
        registry = registry_from_config(request.tracking_uri or config.tracking_uri,
                                        config.registry)
        version = request.model_version or f"@{config.registry.challenger_alias}"
        schema = schema_from_signature(registry, request.model_name, version)
    else:
        raise ConfigurationError("validate-data needs a schema: pass --schema FILE.yaml, or "
                                 "--model-name (and --model-version) to use the model's signature")
    rules = effective_rules(schema, config.data_validation, request.label_column)
    frame = read_table(get_spark(config.spark), request.data, "--data")
    require_label(frame, rules, request.data)  # on the schema, before any job over the rows
    loaded = time.monotonic()
    result = validate(frame, schema, rules)
    timings = {"load_seconds": loaded - started, "checks_seconds": time.monotonic() - loaded,
               "total_seconds": time.monotonic() - started}
    report = build_data_report(result, request.data, schema.source, rules.label_column,
                               config.environment, config.digest(), timings)
    markdown = render_data_markdown(report)
    json_path, _ = write_data_reports(report, markdown, Path(request.report_dir))
    return report, markdown, json_path
