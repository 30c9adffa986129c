"""The command framework: flags and action inputs from one declaration, exit codes, errors."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from ml_actions.cli.declarations import Command, Option, convert
from ml_actions.cli.main import discover_commands, main
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import DataError, InputError

SEEN: dict = {}


def record(inputs, runner) -> int:
    SEEN.clear()
    SEEN.update(inputs)
    return 1 if inputs.fail else 0


def explode(inputs, runner) -> int:
    if inputs.kind == "user":
        raise DataError("test data s3://x is empty; point --test-data at a non-empty table")
    raise RuntimeError("boom\n\tat org.apache.spark.SomeJavaFrame(Frame.java:42)")


COMMANDS = [
    Command("check", "a test command", record, (
        Option("model-name", "model", required=True),
        Option("steps", "weights", default="5,25", kind="list"),
        Option("interval", "seconds", default="30", kind="int"),
        Option("ratio", "ratio", kind="float"),
        Option("fail", "exit 1", kind="bool", default="false"),
        Option("github-token", "token", secret=True, env=("GITHUB_TOKEN",)),
    )),
    Command("group run", "nested", explode, (Option("kind", "user or bug", default="user"),)),
    Command("deploy", "a conditional requirement", record, (
        Option("candidate", "version", required_unless="resume"),
        Option("resume", "continue", kind="bool", default="false"),
        Option("fail", "exit 1", kind="bool", default="false"),
    )),
]


def run(argv, env=None):
    stream = io.StringIO()
    code = main(argv, ActionsRunner(env=env or {}, stream=stream), COMMANDS)
    return code, stream.getvalue()


def test_flags_convert_types():
    code, _ = run(["check", "--model-name", "fraud", "--steps", "5, 50,100", "--ratio", "0.5"])
    assert code == 0
    assert SEEN == {"model_name": "fraud", "steps": ["5", "50", "100"], "interval": 30,
                    "ratio": 0.5, "fail": False, "github_token": None}


def test_action_inputs_are_read_with_hyphens_kept():
    env = {"INPUT_MODEL-NAME": "fraud", "INPUT_FAIL": "true", "INPUT_INTERVAL": "7"}
    code, _ = run(["check"], env)
    assert code == 1
    assert SEEN["model_name"] == "fraud" and SEEN["interval"] == 7 and SEEN["fail"] is True


def test_flag_beats_input_and_env_fallback_masks_secrets():
    env = {"GITHUB_ACTIONS": "true", "INPUT_MODEL-NAME": "from-input", "GITHUB_TOKEN": "tok123"}
    code, out = run(["check", "--model-name", "from-flag"], env)
    assert code == 0
    assert SEEN["model_name"] == "from-flag" and SEEN["github_token"] == "tok123"
    assert "::add-mask::tok123" in out


def test_missing_required_input_is_exit_2_with_the_fix():
    code, out = run(["check"])
    assert code == 2
    assert "missing required input 'model-name': pass --model-name" in out


def test_required_unless_is_enforced_unless_the_other_input_is_true():
    code, out = run(["deploy"])
    assert code == 2 and "missing required input 'candidate': pass --candidate" in out
    assert "only with --resume" in out
    assert run(["deploy", "--candidate", "7"])[0] == 0
    assert run(["deploy", "--resume"])[0] == 0 and SEEN["candidate"] is None
    assert run(["deploy"], {"INPUT_RESUME": "true"})[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["check", "--model-name", "m", "--interval", "soon"], "--interval: expected an integer"),
    (["check", "--model-name", "m", "--ratio", "x"], "--ratio: expected a number"),
])
def test_bad_values_name_the_flag(argv, message):
    code, out = run(argv)
    assert code == 2 and message in out


def test_bad_bool_input():
    code, out = run(["check"], {"INPUT_MODEL-NAME": "m", "INPUT_FAIL": "perhaps"})
    assert code == 2 and "input 'fail': expected true or false" in out


def test_user_errors_are_one_line_without_traceback():
    code, out = run(["group", "run"])
    assert code == 2
    assert out.strip() == ("error: data error: test data s3://x is empty; point --test-data at a "
                           "non-empty table")


def test_bugs_say_so(capsys):
    code, out = run(["group", "run", "--kind", "bug"])
    assert code == 2 and "this is a bug" in out and "RuntimeError: boom)" in out
    assert "SomeJavaFrame" not in out and len(out.strip().splitlines()) == 1  # one line
    assert "Traceback" not in capsys.readouterr().err
    code, _ = run(["group", "run", "--kind", "bug", "--debug"])
    assert "Traceback" in capsys.readouterr().err


def test_no_command_prints_help():
    assert run([])[0] == 2


def test_convert_empty_list_and_none():
    assert convert(Option("x", "", kind="list"), None, "--x") == []
    with pytest.raises(InputError):
        convert(Option("x", "", kind="int"), "1.5", "--x")


def test_discovered_commands_have_unique_kebab_case_names():
    names = [c.name for c in discover_commands()]
    assert len(names) == len(set(names))
    for command in discover_commands():
        for option in command.options:
            assert option.name == option.name.lower() and "_" not in option.name


def test_console_script_version():
    result = subprocess.run([sys.executable, "-m", "ml_actions.cli", "--version"],
                            capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("ml-actions ")
