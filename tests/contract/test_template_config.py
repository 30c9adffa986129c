"""template/ml-actions.yaml: valid, and a config a real team could run on the template's data.

The template's reference model used to fail its own `prod` bar (precision 0.825 < 0.85,
recall 0.72 < 0.80, F1 0.77 < 0.82), and a comparison tolerance of 0.005 AUC below the 0.007+
minimum detectable effect of its test week blocked every candidate from version 2 on; the demo
passed only by lowering the bars. The numbers below were measured on the template's default
data by `bench/template_reference.py` (`python -m ml_pipeline.simulate`; `python -m
ml_pipeline.train` with its defaults and `--seed 1`, with `--train-start 2018-06-18`, with
`--algorithm logistic_regression`; then `ml-actions validate-model` of each against the first
on the default test week, `data/test`: 59,212 transactions, 321 frauds), as the template's
comments say; re-measure when the reference pipeline changes.
"""

from __future__ import annotations

import math

import pytest
import yaml

from ml_actions.config.durations import parse_duration
from ml_actions.config.settings import load_config
from tests.contract.conftest import ROOT

ENVIRONMENTS = ("dev", "staging", "prod")
TEMPLATE = ROOT / "template" / "ml-actions.yaml"
# The lowest value any reference run reached, and the sample its standard error counts.
REFERENCE = {"auc_roc": (0.939, None), "precision": (0.853, 265), "recall": (0.704, 321),
             "f1_score": (0.771, None)}
# DeLong, from the 95 % interval [0.918, 0.961] of that worst run (the GBT trained a week
# earlier, on its own test week of 291 frauds).
AUC_STANDARD_ERROR = 0.011
# prod's AUC-ROC bar is the mission's 0.92, not ours to lower: it sits 1.7 standard errors below
# the worst reference run (a model like it clears it in ~96 % of weeks) and 3 below the GBT the
# template ships (0.952-0.955), so AUC-ROC is held to 1.5 standard errors, the rest to 2.
MARGIN_SE = {"auc_roc": 1.5}
# The largest minimum detectable effect measured between two retrains of the reference GBT (a
# week apart) and between GBT and logistic regression, on the test week.
MDE = {"max_regression": 0.023, "alert_rate_max_regression": 0.053,
       "max_newly_missed_rate": 0.046, "max_newly_blocked_rate": 0.0003,
       "slices.max_regression": 0.039}


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_template_config_is_valid_in_every_environment(environment):
    config = load_config(ROOT / "template" / "ml-actions.yaml", environment)
    assert config.model_name == "fraud_detector"
    assert config.canary.steps[0] == 5 and config.canary.steps[-1] == 100
    expected = {"dev": 0.85, "staging": 0.90, "prod": 0.92}[environment]
    assert config.thresholds["auc_roc"].min == expected


def test_template_slices_are_columns_of_the_feature_table():
    import sys

    sys.path.insert(0, str(ROOT / "template"))
    from ml_pipeline.features import feature_columns

    config = load_config(ROOT / "template" / "ml-actions.yaml", "prod")
    assert set(config.slices.columns) <= set(feature_columns())


def test_template_data_schema_matches_the_simulators_columns(tmp_path):
    """The raw-data schema ml-cicd.yml validates names the simulator's columns and types."""
    import subprocess
    import sys

    import pyarrow.parquet as pq

    from ml_actions.data.schema import load_schema_file

    out = tmp_path / "tx.parquet"
    subprocess.run([sys.executable, "-m", "ml_pipeline.simulate", "--customers", "40",
                    "--terminals", "80", "--days", "5", "--out", str(out)], check=True,
                   cwd=ROOT / "template", capture_output=True, timeout=120)
    arrow = {f.name: str(f.type) for f in pq.read_schema(out)}
    spark_names = {"int64": "bigint", "double": "double", "timestamp[us]": "timestamp",
                   "timestamp[ns]": "timestamp"}
    schema = load_schema_file(ROOT / "template" / "data-schema.yaml")
    for name, spec in schema.columns.items():
        assert name in arrow, f"{name} is not a simulator column"
        assert spark_names.get(arrow[name]) == spec.type, f"{name}: {arrow[name]} vs {spec.type}"
    assert schema.label.column in arrow and schema.key_columns == ["TRANSACTION_ID"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_reference_model_clears_every_threshold_with_a_margin(environment):
    """Two standard errors of one test week below the worst reference run (AUC-ROC: 1.5, see
    MARGIN_SE): a model as good as the reference passes honestly, week after week, and a
    better one has room. F1 has no simple standard error: the same 0.05 as precision's two."""
    config = load_config(TEMPLATE, environment)
    assert set(config.thresholds) == set(REFERENCE)
    for metric, (measured, n) in REFERENCE.items():
        se = (AUC_STANDARD_ERROR if metric == "auc_roc" else
              math.sqrt(measured * (1 - measured) / n) if n else 0.025)
        bar = config.thresholds[metric].min
        margin = MARGIN_SE.get(metric, 2) * se
        assert bar <= measured - margin, f"{environment}: {metric} {bar} vs measured {measured}"
    assert config.thresholds["auc_roc"].min >= 0.85  # the amount-only model (~0.58) never passes


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_comparison_tolerance_exceeds_the_test_weeks_minimum_detectable_effect(
        environment):
    """Below its MDE a tolerance can never be shown: inconclusive, which blocks staging/prod.
    The largest MDE measured (GBT against LR) must be resolvable; retrains sit well below."""
    config = load_config(TEMPLATE, environment)
    cmp, flips = config.comparison, config.comparison.flips
    tolerances = {"max_regression": cmp.max_regression,
                  "alert_rate_max_regression": cmp.alert_rate_max_regression,
                  "max_newly_missed_rate": flips.max_newly_missed_rate,
                  "max_newly_blocked_rate": flips.max_newly_blocked_rate,
                  "slices.max_regression": config.slices.max_regression}
    for key, mde in MDE.items():
        assert tolerances[key] > mde, f"{environment}: {key} {tolerances[key]} vs {mde}"
    assert cmp.confidence == 0.95 and cmp.power == 0.8  # what the MDEs were measured at
    assert cmp.inconclusive == ("warn" if environment == "dev" else "fail")


def not_durations(raw: dict, path: str = "") -> list[str]:
    """Keys of the demo's file that are not a duration (a threshold, an effect size...)."""
    odd = []
    for key, value in raw.items():
        where = f"{path}{key}"
        if isinstance(value, dict):
            odd += not_durations(value, f"{where}.")
            continue
        try:
            parse_duration(str(value), where)
        except Exception:  # noqa: BLE001 - anything but a duration is a finding
            odd.append(where)
    return odd


def test_the_demo_runs_on_the_templates_settings_with_only_its_timings_changed(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT))
    from demo.story import write_demo_config

    demo_raw = yaml.safe_load((ROOT / "demo" / "ml-actions.yaml").read_text())
    assert not not_durations(demo_raw)
    assert not {"thresholds", "comparison", "evaluation", "slices"} & set(demo_raw)
    effective = write_demo_config(tmp_path / "ml-actions.yaml")
    for environment in ENVIRONMENTS:
        demo, template = load_config(effective, environment), load_config(TEMPLATE, environment)
        for section in ("thresholds", "evaluation", "comparison", "slices", "validation",
                        "registry", "gateway"):
            assert getattr(demo, section) == getattr(template, section), section
