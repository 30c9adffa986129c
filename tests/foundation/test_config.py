"""ml-actions.yaml loading: overlays, defaults, and errors that name the file and key path."""

from __future__ import annotations

import pytest

from ml_actions.config.settings import load_config, parse_threshold_overrides, select_environment
from ml_actions.errors import ConfigurationError


def write(tmp_path, text: str):
    path = tmp_path / "ml-actions.yaml"
    path.write_text(text)
    return path


def test_builtin_defaults_follow_the_mission_in_prod():
    prod = load_config(environment="prod")
    assert prod.thresholds["auc_roc"].min == 0.92
    assert prod.thresholds["precision"].min == 0.85
    assert prod.thresholds["recall"].min == 0.80
    assert prod.thresholds["f1_score"].min == 0.82
    dev = load_config(environment="dev")
    assert dev.thresholds["auc_roc"].min < prod.thresholds["auc_roc"].min
    assert prod.source == "built-in defaults" and prod.environment == "prod"


def test_section_level_overlay_applies_only_to_its_environment(tmp_path):
    path = write(tmp_path, """
thresholds:
  auc_roc: 0.90
  prod:
    auc_roc: 0.95
spark:
  master: local[2]
""")
    assert load_config(path, "prod").thresholds["auc_roc"].min == 0.95
    assert load_config(path, "dev").thresholds["auc_roc"].min == 0.90
    assert load_config(path, "dev").spark.master == "local[2]"


def test_top_level_environment_overlay(tmp_path):
    path = write(tmp_path,
                 "prod:\n  model_name: fraud_prod\n  thresholds:\n    recall: {max: 0.99}\n")
    prod = load_config(path, "prod")
    assert prod.model_name == "fraud_prod"
    assert prod.thresholds["recall"].max == 0.99
    assert load_config(path, "staging").model_name == "fraud_detector"


def test_environment_from_env_var(monkeypatch):
    monkeypatch.setenv("ML_ACTIONS_ENV", "staging")
    assert select_environment(None) == "staging"
    assert select_environment("prod") == "prod"
    monkeypatch.setenv("ML_ACTIONS_ENV", "production")
    with pytest.raises(ConfigurationError, match="dev, staging, prod"):
        select_environment(None)


def test_wrong_type_names_the_key_path_and_the_file(tmp_path):
    path = write(tmp_path, "thresholds:\n  prod:\n    auc_roc: high\n")
    with pytest.raises(ConfigurationError) as err:
        load_config(path, "dev")  # prod is validated even when dev is selected
    message = str(err.value)
    assert str(path) in message
    assert 'thresholds.prod.auc_roc: expected a number in [0, 1], got "high"' in message


def test_unknown_key_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, "spark:\n  mastr: local\n")
    with pytest.raises(ConfigurationError, match=r"spark\.mastr: unknown key; valid keys here"):
        load_config(path)


def test_unknown_metric_lists_valid_metrics(tmp_path):
    path = write(tmp_path, "thresholds:\n  auroc: 0.9\n")
    expected = r"thresholds\.auroc: unknown name 'auroc'.*auc_roc"
    with pytest.raises(ConfigurationError, match=expected):
        load_config(path)


def test_threshold_out_of_range(tmp_path):
    path = write(tmp_path, "thresholds:\n  recall: {min: 1.5}\n")
    with pytest.raises(ConfigurationError, match=r"thresholds\.recall\.min: expected a number in"):
        load_config(path)


def test_malformed_yaml_reports_the_line(tmp_path):
    path = write(tmp_path, "spark:\n  master: local\n  conf: [a,\n")
    with pytest.raises(ConfigurationError, match=r"malformed YAML at line \d+"):
        load_config(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigurationError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigurationError, match="expected a mapping at the top level"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_overlay_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigurationError, match=r"thresholds\.prod: expected a mapping"):
        load_config(write(tmp_path, "thresholds:\n  prod: 0.9\n"), "prod")


def test_bool_int_and_list_types_are_checked(tmp_path):
    with pytest.raises(ConfigurationError, match=r"github\.comment: expected true or false"):
        load_config(write(tmp_path, "github:\n  comment: maybe\n"))
    with pytest.raises(ConfigurationError, match=r"registry\.retries: expected a number in"):
        load_config(write(tmp_path, "registry:\n  retries: 2.5\n"))
    with pytest.raises(ConfigurationError, match=r"canary\.steps: expected a list"):
        load_config(write(tmp_path, "canary:\n  steps: 5\n"))


def test_inline_threshold_overrides_win(tmp_path):
    overrides = parse_threshold_overrides("auc_roc=0.93, precision=0.8")
    config = load_config(None, "prod", overrides, "--thresholds")
    assert config.thresholds["auc_roc"].min == 0.93
    assert config.thresholds["precision"].min == 0.8
    assert config.thresholds["recall"].min == 0.80  # untouched


@pytest.mark.parametrize("text, match", [
    ("auc_roc", "is not NAME=VALUE"),
    ("=0.5", "is not NAME=VALUE"),
])
def test_inline_threshold_syntax_errors(text, match):
    with pytest.raises(ConfigurationError, match=match):
        parse_threshold_overrides(text)


def test_inline_threshold_out_of_range_names_the_flag():
    with pytest.raises(ConfigurationError, match=r"--thresholds: thresholds\.auc_roc\.min"):
        load_config(None, "dev", parse_threshold_overrides("auc_roc=1.7"), "--thresholds")


def test_digest_changes_with_content(tmp_path):
    a = load_config(write(tmp_path, "thresholds:\n  auc_roc: 0.9\n"))
    b = load_config(write(tmp_path, "thresholds:\n  auc_roc: 0.91\n"))
    assert a.digest() != b.digest()
    assert a.digest() == load_config(write(tmp_path, "thresholds:\n  auc_roc: 0.9\n")).digest()
