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
