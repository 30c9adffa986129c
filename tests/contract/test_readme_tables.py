"""The README tables (each action's README and the repository README) match action.yml.

The tables are parsed back from Markdown and compared with the YAML, independently of the
generator, so a hand edit of either side, or a stale generated block, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.contract.conftest import ROOT, SPECS, action_yml, command_or_skip

NAMES = [spec.name for spec in SPECS]


def parse_table(markdown: str) -> list[dict[str, str]]:
    """The first Markdown table in `markdown`, as rows of {header: cell}."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return []
    split = lambda line: [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]  # noqa: E731
    header = split(lines[0])
    return [dict(zip(header, split(line), strict=True)) for line in lines[2:]]


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no '## {title}' section"
    return match.group(1)


def block(text: str, key: str) -> str:
    match = re.search(rf"<!-- sync_actions:begin {key} -->\n(.*?)<!-- sync_actions:end -->",
                      text, re.S)
    assert match, f"README has no generated block {key}"
    return match.group(1)


def unquote(cell: str) -> str:
    return cell.strip("`").replace("\\|", "|")


def assert_inputs_match(rows: list[dict[str, str]], meta: dict) -> None:
    assert [unquote(r["Name"]) for r in rows] == list(meta["inputs"])
    for row in rows:
        entry = meta["inputs"][unquote(row["Name"])]
        assert (row["Required"] == "yes") is entry["required"]
        assert unquote(row["Default"]) == (entry.get("default") or "")
        assert row["Description"].replace("\\|", "|") == entry["description"]


def assert_outputs_match(rows: list[dict[str, str]], meta: dict) -> None:
    assert {unquote(r["Name"]): r["Description"] for r in rows} == {
        name: body["description"] for name, body in meta["outputs"].items()}


def readmes(name: str) -> list[tuple[str, str, str]]:
    """(label, inputs markdown, outputs markdown) for the action's README and the root one."""
    own = (ROOT / "actions" / name / "README.md").read_text()
    root = (ROOT / "README.md").read_text()
    return [(f"actions/{name}/README.md", section(own, "Inputs"), section(own, "Outputs")),
            ("README.md", block(root, f"{name}:inputs"), block(root, f"{name}:outputs"))]


@pytest.mark.parametrize("name", NAMES)
def test_readme_input_and_output_tables_match_action_yml(name):
    command_or_skip(name)
    meta = action_yml(name)
    for label, inputs_md, outputs_md in readmes(name):
        try:
            assert_inputs_match(parse_table(inputs_md), meta)
            assert_outputs_match(parse_table(outputs_md), meta)
        except AssertionError as err:
            raise AssertionError(f"{label} drifted from actions/{name}/action.yml: {err}; run "
                                 "`python scripts/sync_actions.py`") from err


def test_a_drifted_table_is_detected():
    """An undocumented input and a wrong default both fail the comparison."""
    meta = {"inputs": {"model-name": {"description": "Model.", "required": True},
                       "report-dir": {"description": "Dir.", "required": False,
                                      "default": "."}},
            "outputs": {"passed": {"description": "Verdict."}}}
    good = ("| Name | Type | Required | Default | Description |\n|---|---|---|---|---|\n"
            "| `model-name` | String | yes |  | Model. |\n"
            "| `report-dir` | String | no | `.` | Dir. |\n")
    assert_inputs_match(parse_table(good), meta)
    with pytest.raises(AssertionError):
        assert_inputs_match(parse_table(good.replace("| `.` |", "| `out` |")), meta)
    with pytest.raises(AssertionError):
        assert_inputs_match(parse_table(good.rsplit("| `report-dir`", 1)[0]), meta)
    with pytest.raises(AssertionError):
        assert_outputs_match(parse_table("| Name | Description |\n|---|---|\n"), meta)


def test_root_readme_lists_every_action_and_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    for name in NAMES:
        assert f"actions/{name}" in text
    assert "Linux" in text, "the README must say Linux runners only"


def test_configuration_reference_is_the_generated_one():
    from config_reference import config_reference  # scripts/ is on sys.path via sync_actions

    text = (ROOT / "README.md").read_text()
    assert block(text, "config-reference") == config_reference()
    assert "`thresholds`" in config_reference() and "`canary.steps`" in config_reference()


def test_action_readmes_show_permissions_and_usage():
    for name in NAMES:
        path = Path(ROOT / "actions" / name / "README.md")
        if not path.is_file():
            continue
        text = path.read_text()
        assert "permissions:" in text and f"actions/{name}@v1" in text
