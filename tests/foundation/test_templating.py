"""Markdown escaping and comment-size limits shared by every report."""

from __future__ import annotations

from ml_actions.templating import escape_markdown, format_number, truncate_for_comment
from ml_actions.validation.results import CheckResult, GateDecision, to_jsonable


def test_user_strings_cannot_break_tables_or_inject_html():
    text = escape_markdown("a|b <script>*x*</script>\nnext")
    assert "|" not in text.replace("\\|", "")
    assert "<" not in text.replace("\\<", "")
    assert "\n" not in text


def test_format_number():
    assert format_number(None) == "–"
    assert format_number(0.123456) == "0.1235"
    assert format_number(12345) == "12,345"
    assert format_number(True) == "yes"


def test_truncation_keeps_the_limit():
    body = "x" * 70000
    cut = truncate_for_comment(body)
    assert len(cut) <= 65536 and cut.endswith("artifacts._\n")
    assert truncate_for_comment("short") == "short"


def test_results_serialise_to_json_types():
    decision = GateDecision(False, [CheckResult("auc_roc", "fail", float("nan"), 0.92, "low",
                                                interval=(0.1, 0.2))])
    data = to_jsonable(decision)
    assert data["checks"][0]["actual"] is None and data["checks"][0]["interval"] == [0.1, 0.2]
    assert [c.name for c in decision.failed()] == ["auc_roc"]
