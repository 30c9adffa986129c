"""The monitor's settings: validated with the key path, and bad flags stop before Spark."""

from __future__ import annotations

import pytest

from ml_actions.cli.main import main
from ml_actions.config.settings import load_config
from ml_actions.errors import ConfigurationError
from tests.validation.conftest import RunnerFiles


def test_defaults_and_the_per_test_level():
    monitor = load_config().monitor
    assert (monitor.alpha, monitor.runs_per_guard_period) == (0.05, 7)
    assert monitor.per_test_alpha() == pytest.approx(0.05 / 14)
    assert monitor.label_maturity_seconds == 7 * 86400


def test_an_out_of_range_alpha_names_its_key(tmp_path):
    (tmp_path / "c.yaml").write_text("monitor:\n  alpha: 0.9\n")
    with pytest.raises(ConfigurationError, match="monitor.alpha"):
        load_config(tmp_path / "c.yaml")


def assert_one_line_refusal(tmp_path, flag: str, value: str) -> None:
    """The monitor refuses a bad `flag` value with exit 2 and one `::error` line naming it."""
    files = RunnerFiles(tmp_path, {})
    code = main(["monitor", "--model-name", "m", "--prediction-log", str(tmp_path),
                 "--labels", str(tmp_path / "l.parquet"), flag, value], runner=files.runner)
    errors = [ln for ln in files.log().splitlines() if ln.startswith("::error")]
    assert code == 2 and len(errors) == 1 and flag in errors[0], files.log()


def test_a_bad_label_maturity_is_one_line_and_exit_2(tmp_path):
    assert_one_line_refusal(tmp_path, "--label-maturity", "seven days")


def test_as_of_reads_utc_times_and_refuses_others_in_one_line(tmp_path):
    """`--as-of` (CLI only: replays and the handbook bench) judges as of a given time."""
    import datetime as dt

    from ml_actions.cli.commands.monitor import as_of

    utc = dt.datetime(2018, 8, 3, 23, 59, 59, tzinfo=dt.UTC)
    assert as_of("2018-08-03T23:59:59") == utc  # no zone: UTC
    assert as_of("2018-08-04T01:59:59+02:00") == utc
    assert as_of(None) is None and as_of("") is None
    assert_one_line_refusal(tmp_path, "--as-of", "last tuesday")
