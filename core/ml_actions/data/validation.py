"""validate-data: a dataset checked against a schema before anything trains or deploys on it.

The schema comes from a YAML file (`columns: {amount: {type: double, min: 0}}`, `label:`,
`key_columns:`) or from the input signature a model was logged with in MLflow, so the data a
pipeline feeds a model is checked against what that model was trained on. Checks: missing
columns, types (a lossless widening such as int -> bigint passes), null rates (NaN counts as
missing), value ranges and allowed values, label values and rate, duplicate keys.

All per-column numbers come from ONE Spark aggregation; duplicates take one more grouped job
only when key columns are declared. Nothing is collected but one row of counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_actions.check_result import CheckResult
from ml_actions.data.reading import require_column
from ml_actions.data.schema import (
    FLOATING,
    ColumnSpec,
    DataSchema,
    numeric_type,
    type_compatible,
)


@dataclass
class DataValidationResult:
    passed: bool
    checks: list[CheckResult]
    rows: int
    columns: list[dict[str, str]]  # name, type as read


@dataclass
class DataRules:
    """The effective rules: the schema's own values over the config's defaults."""

    label_column: str | None
    label_values: list[int]
    min_label_rate: float | None
    max_label_rate: float | None
    max_null_rate: float
    min_rows: int
    key_columns: list[str]
    label_source: str = "--label-column"  # where the label's name came from, for errors


def effective_rules(schema: DataSchema, settings: Any, label_flag: str | None) -> DataRules:
    """`settings` is `DataValidationConfig`; an empty --label-column disables label checks."""
    def pick(own: Any, default: Any) -> Any:
        return own if own is not None else default

    label = label_flag if label_flag is not None else (schema.label.column or
                                                       settings.label_column)
    source = ("--label-column" if label_flag is not None else
              f"label.column of {schema.source}" if schema.label.column else
              "data_validation.label_column (no label in the schema)")
    return DataRules(label or None, schema.label.values or settings.label_values,
                     pick(schema.label.min_rate, settings.min_label_rate),
                     pick(schema.label.max_rate, settings.max_label_rate),
                     pick(schema.max_null_rate, settings.max_null_rate),
                     schema.min_rows or settings.min_rows,
                     schema.key_columns or settings.key_columns, source)


def require_label(frame, rules: DataRules, uri: str) -> None:
    """The label column must exist before any check runs: its absence is one error line naming
    the column, where its name came from and the columns there are, not a "values seen:
    [None]" label check after a full aggregation."""
    if rules.label_column:
        require_column(frame, rules.label_column, rules.label_source, "--data", uri,
                       "; pass --label-column NAME, or --label-column '' to skip the label "
                       "checks")


def validate(frame, schema: DataSchema, rules: DataRules) -> DataValidationResult:
    """Run every check; one aggregation for all columns (+ one for duplicate keys)."""
    from pyspark.sql import functions as F

    label_column, label_values = rules.label_column, rules.label_values
    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    checks: list[CheckResult] = []
    present = {n: s for n, s in schema.columns.items() if n in types}
    missing = [n for n, s in schema.columns.items() if n not in types and s.required]
    if label_column and label_column not in types:
        missing.append(label_column)
    if missing:
        checks.append(CheckResult("columns.missing", "fail", len(missing), 0,
                                  f"missing column(s): {', '.join(missing)}"))
    else:
        checks.append(CheckResult("columns.missing", "pass", 0, 0,
                                  f"all {len(schema.columns)} declared columns present"))

    def missing_value(name: str):
        col = F.col(f"`{name}`")
        return col.isNull() | F.isnan(col) if types[name] in FLOATING else col.isNull()

    aggs = [F.count(F.lit(1)).alias("__rows")]
    for i, (name, spec) in enumerate(present.items()):
        aggs.append(F.sum(missing_value(name).cast("int")).alias(f"n{i}"))
        if (spec.min is not None or spec.max is not None) and numeric_type(types[name]):
            aggs += [F.min(f"`{name}`").alias(f"lo{i}"), F.max(f"`{name}`").alias(f"hi{i}")]
        if spec.values is not None:
            aggs.append(F.sum((~F.col(f"`{name}`").isin(spec.values)).cast("int")).alias(f"v{i}"))
    has_label = bool(label_column) and label_column in types
    if has_label:
        # try_cast: a text label ("yes") is a bad value, not an ANSI cast error
        label = F.col(f"`{label_column}`").try_cast("double")
        known = F.coalesce(label.isin([float(v) for v in label_values]), F.lit(False))
        aggs += [F.sum((label == 1.0).cast("int")).alias("__pos"),
                 F.sum((~known).cast("int")).alias("__bad")]
    row = frame.agg(*aggs).collect()[0].asDict()
    rows = int(row["__rows"])
    enough = rows >= rules.min_rows
    checks.append(CheckResult("rows", "pass" if enough else "fail", rows, rules.min_rows,
                              f"{rows} rows" + ("" if enough else
                                                f", fewer than the minimum {rules.min_rows}")))
    for i, (name, spec) in enumerate(present.items()):
        checks += _column_checks(name, spec, types[name], row, i, rows, rules.max_null_rate)
    if has_label:
        checks += _label_checks(frame, label_column, label_values, row, rows,
                                rules.min_label_rate, rules.max_label_rate)
    if rules.key_columns:
        checks.append(_duplicate_check(frame, rules.key_columns, types, rows))
    passed = not any(c.status == "fail" for c in checks)
    return DataValidationResult(passed, checks, rows,
                                [{"name": n, "type": t} for n, t in types.items()])


def _column_checks(name: str, spec: ColumnSpec, actual_type: str, row: dict, i: int, rows: int,
                   default_null_rate: float) -> list[CheckResult]:
    out = []
    if spec.type:
        ok = type_compatible(actual_type, spec.type)
        out.append(CheckResult(f"type:{name}", "pass" if ok else "fail", None, None,
                               f"{actual_type}" + ("" if ok else f", expected {spec.type}"),
                               details={"actual_type": actual_type, "expected_type": spec.type}))
    limit = spec.max_null_rate if spec.max_null_rate is not None else default_null_rate
    nulls = int(row[f"n{i}"] or 0)
    rate = nulls / rows if rows else 0.0
    out.append(CheckResult(f"nulls:{name}", "pass" if rate <= limit else "fail", rate, limit,
                           f"{nulls} missing of {rows}", sample_size=rows))
    if (spec.min is not None or spec.max is not None) and not numeric_type(actual_type):
        out.append(CheckResult(f"range:{name}", "fail", None, None,
                               f"a range is declared but the column is {actual_type}"))
    elif f"lo{i}" in row and row[f"lo{i}"] is not None:
        lo, hi = row[f"lo{i}"], row[f"hi{i}"]
        bad = (spec.min is not None and lo < spec.min) or (spec.max is not None and hi > spec.max)
        out.append(CheckResult(f"range:{name}", "fail" if bad else "pass", None, None,
                               f"values in [{lo}, {hi}], allowed [{spec.min}, {spec.max}]",
                               details={"min": lo, "max": hi, "allowed_min": spec.min,
                                        "allowed_max": spec.max}))
    if f"v{i}" in row:
        bad = int(row[f"v{i}"] or 0)
        out.append(CheckResult(f"values:{name}", "fail" if bad else "pass", bad, 0,
                               f"{bad} row(s) outside the allowed values", sample_size=rows))
    return out


def _label_checks(frame, label_column: str, label_values: list[int], row: dict, rows: int,
                  min_rate: float | None, max_rate: float | None) -> list[CheckResult]:
    bad, positives = int(row["__bad"] or 0), int(row["__pos"] or 0)
    out = []
    if bad:
        found = [r[0] for r in frame.select(label_column).distinct().limit(10).collect()]
        out.append(CheckResult("label.values", "fail", bad, 0,
                               f"{bad} label(s) not in {label_values}; values seen: {found}",
                               sample_size=rows))
    else:
        out.append(CheckResult("label.values", "pass", 0, 0, f"labels in {label_values}",
                               sample_size=rows))
    negatives = rows - positives - bad
    single = positives == 0 or negatives == 0
    out.append(CheckResult("label.classes", "fail" if single else "pass", positives, None,
                           f"{positives} positive and {negatives} negative rows" +
                           (": a single class, AUC is undefined" if single else ""),
                           sample_size=rows))
    rate = positives / rows if rows else 0.0
    low = min_rate is not None and rate < min_rate
    high = max_rate is not None and rate > max_rate
    out.append(CheckResult("label.rate", "fail" if low or high else "pass", rate,
                           min_rate if low else max_rate,
                           f"positive rate {rate:.4%}, allowed [{min_rate}, {max_rate}]",
                           sample_size=rows))
    return out


def _duplicate_check(frame, keys: list[str], types: dict[str, str], rows: int) -> CheckResult:
    """Key values that occur more than once, and the rows they cover, out of all `rows`."""
    from pyspark.sql import functions as F

    absent = [k for k in keys if k not in types]
    if absent:
        return CheckResult("keys.duplicates", "fail", None, 0,
                           f"key column(s) missing: {', '.join(absent)}")
    dupes = (frame.groupBy(*[F.col(f"`{k}`") for k in keys]).count().where("count > 1")
             .agg(F.count(F.lit(1)).alias("keys"), F.sum("count").alias("rows"))
             .collect()[0])
    n, covered, on = int(dupes["keys"] or 0), int(dupes["rows"] or 0), ", ".join(keys)
    text = (f"{n} key value(s) of ({on}) occur more than once, on {covered} of {rows} rows"
            if n else f"every ({on}) is unique across the {rows} rows")
    return CheckResult("keys.duplicates", "fail" if n else "pass", n, 0, text, rows,
                       details={"keys": keys, "duplicated_rows": covered})
