"""Markdown reports from the Jinja2 templates that sit beside the code that renders them.

Results are dataclasses serialised once; this is the one place they become Markdown, so the
job summary, the PR comment and the file on disk never disagree. User-provided strings are
escaped with the `md` filter so a model name cannot break a table or inject HTML.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

PACKAGE_DIR = Path(__file__).parent  # names are package-relative: "rollout/templates/x.md.j2"
GITHUB_COMMENT_LIMIT = 65536

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def escape_markdown(value: Any) -> str:
    """Escape Markdown and HTML control characters in a user-provided string."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)


def format_number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape_markdown(value)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR)),
        autoescape=False,  # Markdown, not HTML: escaping is explicit through `md`
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = escape_markdown
    env.filters["num"] = format_number
    return env


def render(template: str, **context: Any) -> str:
    """Render `<package>/templates/<name>` (a path relative to `ml_actions/`) with `context`."""
    return environment().get_template(template).render(**context)


def truncate_for_comment(markdown: str, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """Keep a comment under GitHub's size limit, saying that it was cut."""
    if len(markdown) <= limit:
        return markdown
    note = ("\n\n_…report truncated to fit GitHub's comment limit; "
            "the full report is in the job's artifacts._\n")
    return markdown[: limit - len(note) - 1] + note
