"""`ml-actions gateway serve` refuses to start unsafe or unconfigured, with one clear line."""

from __future__ import annotations

import io

import pytest

from ml_actions.cli.main import main
from ml_actions.cli.runner import ActionsRunner


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    stream = io.StringIO()
    code = main(argv, runner=ActionsRunner(env=env, stream=stream))
    return code, stream.getvalue()


@pytest.mark.parametrize("argv, env, words", [
    (["--tracking-uri", "http://x"], {}, "ML_ACTIONS_ADMIN_TOKEN"),
    ([], {"ML_ACTIONS_ADMIN_TOKEN": "t"}, "--tracking-uri"),
    (["--tracking-uri", "http://x", "--port", "0"], {"ML_ACTIONS_ADMIN_TOKEN": "t"}, "--port"),
    (["--tracking-uri", "http://x", "--port", "eighty"], {"ML_ACTIONS_ADMIN_TOKEN": "t"},
     "expected an integer"),
    (["--tracking-uri", "http://x", "--environment", "qa"], {"ML_ACTIONS_ADMIN_TOKEN": "t"},
     "environment 'qa'"),
])
def test_serve_refuses_with_one_line(argv, env, words, tmp_path):
    code, out = run(["gateway", "serve", "--state-dir", str(tmp_path), *argv], env)
    assert code == 2
    assert words in out and len(out.strip().splitlines()) == 1


def test_an_unwritable_prediction_log_refuses_to_start(tmp_path):
    """--prediction-log wins over serving.prediction_log.path and is checked before serving."""
    (tmp_path / "a-file").write_text("x")
    config = tmp_path / "ml-actions.yaml"
    config.write_text(f"serving:\n  prediction_log:\n    path: {tmp_path / 'fine'}\n")
    bad = tmp_path / "a-file" / "log"
    code, out = run(["gateway", "serve", "--state-dir", str(tmp_path / "state"),
                     "--tracking-uri", "http://127.0.0.1:9", "--config", str(config),
                     "--prediction-log", str(bad)], {"ML_ACTIONS_ADMIN_TOKEN": "t"})
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert str(bad) in out and "not writable" in out and "--prediction-log" in out
    assert not (tmp_path / "fine").exists()
