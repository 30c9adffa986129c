"""The runner contract: inputs, outputs (multi-line safe), summary, annotations, masks."""

from __future__ import annotations

import io
import json
import re

from ml_actions.cli.runner import ActionsRunner, input_env_name, output_text, parse_output_file


def runner_with(tmp_path, **env):
    out = tmp_path / "output"
    summary = tmp_path / "summary"
    base = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary)}
    base.update(env)
    stream = io.StringIO()
    return ActionsRunner(env=base, stream=stream), out, summary, stream


def test_input_names_keep_hyphens():
    assert input_env_name("model-name") == "INPUT_MODEL-NAME"
    runner = ActionsRunner(env={"INPUT_MODEL-NAME": "  fraud  ", "INPUT_EMPTY": ""})
    assert runner.get_input("model-name") == "fraud"
    assert runner.get_input("empty") is None
    assert runner.get_input("missing") is None


def test_outputs_are_multiline_safe(tmp_path):
    runner, out, _, _ = runner_with(tmp_path)
    runner.set_output("passed", True)
    runner.set_output("auc-roc", 0.931)
    runner.set_output("report", "line 1\nline 2=x\n")
    runner.set_output("data", {"a": 1})
    values = parse_output_file(out.read_text())
    assert values["passed"] == "true"
    assert values["auc-roc"] == "0.931"
    assert values["report"] == "line 1\nline 2=x\n"
    assert json.loads(values["data"]) == {"a": 1}


def test_output_text_conversions():
    assert output_text(None) == ""
    assert output_text(False) == "false"
    assert output_text(3) == "3"


def test_summary_appends(tmp_path):
    runner, _, summary, _ = runner_with(tmp_path)
    runner.add_summary("# one")
    runner.add_summary("two\n")
    assert summary.read_text() == "# one\ntwo\n"


def test_annotations_are_escaped(tmp_path):
    runner, _, _, stream = runner_with(tmp_path)
    runner.error("50% failed\nsecond line", title="gate: prod, v2")
    runner.warning("careful")
    runner.notice("fyi")
    runner.mask("s3cr3t")
    text = stream.getvalue()
    assert "::error title=gate%3A prod%2C v2::50%25 failed%0Asecond line\n" in text
    assert "::warning::careful" in text
    assert "::notice::fyi" in text
    assert "::add-mask::s3cr3t" in text


def test_groups_on_and_off_github(tmp_path):
    runner, _, _, stream = runner_with(tmp_path)
    with runner.group("Evaluate"):
        runner.info("inside")
    assert re.search(r"::group::Evaluate\ninside\n::endgroup::", stream.getvalue())
    plain = ActionsRunner(env={}, stream=io.StringIO())
    with plain.group("Evaluate"):
        plain.error("bad")
    text = plain.stream.getvalue()
    assert "::" not in text and "== Evaluate" in text and "error: bad" in text


def test_outside_github_outputs_go_to_stdout():
    stream = io.StringIO()
    runner = ActionsRunner(env={}, stream=stream)
    runner.set_output("passed", False)
    runner.add_summary("## summary")
    runner.mask("secret")
    assert stream.getvalue() == "output passed=false\n## summary\n"


def test_pull_request_number_from_event(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "pull_request": {"number": 17}}))
    assert ActionsRunner(env={"GITHUB_EVENT_PATH": str(event)}).context.pull_request_number == 17
    event.write_text(json.dumps({"issue": {"number": 5, "pull_request": {}}}))
    assert ActionsRunner(env={"GITHUB_EVENT_PATH": str(event)}).context.pull_request_number == 5
    event.write_text("not json")
    assert ActionsRunner(env={"GITHUB_EVENT_PATH": str(event)}).context.pull_request_number is None
    assert ActionsRunner(env={}).context.event == {}
