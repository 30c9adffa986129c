"""template/ml-actions.yaml loads in every environment with the keys the template promises."""

from __future__ import annotations

import pytest

from ml_actions.config.settings import load_config
from tests.contract.conftest import ROOT


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_template_config_is_valid_in_every_environment(environment):
    config = load_config(ROOT / "template" / "ml-actions.yaml", environment)
    assert config.model_name == "fraud_detector"
    assert config.canary.steps[0] == 5 and config.canary.steps[-1] == 100
    expected = {"dev": 0.80, "staging": 0.88, "prod": 0.92}[environment]
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
