"""The sticky PR comment: one comment per model, edited in place, or a file when we may not post.

A report is posted as ONE comment per model, found again by a hidden HTML marker that carries
an id (`<!-- ml-actions:validate-model:fraud_detector -->`) and edited in place, so a PR that
is pushed ten times has one up-to-date comment instead of ten stale ones, and two workflows
with different ids do not overwrite each other.

Posting a comment is a courtesy, never part of the verdict: with no token, outside a pull
request, or with the read-only token of a fork (HTTP 403), the comment is written to a file
(with a `.json` beside it naming the repository, the PR and the marker), an output says
where, and a `workflow_run` workflow (the template's ml-comment.yml) posts it.

Our comment is the one that starts with the marker and was written by `github.comment_author`
(`github-actions[bot]` for the workflow's token): a marker is public text, so a comment
someone else posts with it is neither edited nor allowed to hide the report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ml_actions.github.rest_client import (
    DEFAULT_COMMENT_AUTHOR,
    CommentOutcome,
    GitHubApi,
    with_marker,
)
from ml_actions.github.workflow_context import WorkflowContext

__all__ = ["CommentOutcome", "GitHubApi", "comment_marker", "publish_sticky_comment",
           "with_marker"]
FORK_HINT = (
    "the token cannot write to this repository (HTTP 403: a pull request from a fork gets a "
    "read-only token); post the file from a `workflow_run` workflow, or grant "
    "`pull-requests: write`"
)


def comment_marker(kind: str, key: str) -> str:
    """The hidden marker of a sticky comment; `key` (a model name) cannot close the comment."""
    safe = re.sub(r"[^A-Za-z0-9_.:/@+=-]", "_", f"{kind}:{key}").replace("--", "-_")
    return f"<!-- ml-actions:{safe} -->"


def publish_sticky_comment(context: WorkflowContext, body: str, marker: str, token: str | None,
                           fallback_path: Path, base_url: str | None = None,
                           enabled: bool = True, throttle: bool = True,
                           author: str = DEFAULT_COMMENT_AUTHOR) -> CommentOutcome:
    """Post `body` as the sticky comment of this PR, or write it to `fallback_path`.

    Never raises for GitHub's answers: the caller's verdict does not depend on a comment.
    """
    from github import GithubException
    from requests import RequestException

    repository = context.repository
    number = context.pull_request_number
    reason: str | None = None
    if not enabled:
        reason = "PR comments are disabled (github.comment: false)"
    elif not token:
        reason = "no GitHub token: pass --github-token or set GITHUB_TOKEN to comment on the PR"
    elif number is None:
        reason = "not a pull request event: the report goes to the job summary only"
    elif "/" not in repository:
        reason = "GITHUB_REPOSITORY is not set (owner/name): cannot find the pull request"
    else:
        url = base_url or context.api_url_or()
        api = None
        try:
            api = GitHubApi(token, repository, url, throttle=throttle)
            return api.upsert_comment(number, marker, body, author)
        except GithubException as err:
            reason = FORK_HINT if err.status == 403 else (
                f"GitHub answered HTTP {err.status} ({_message(err)}) while commenting on "
                f"PR #{number}")
        except (RequestException, OSError, ValueError, AssertionError) as err:
            # AssertionError/ValueError: PyGithub's answer to a malformed GITHUB_API_URL
            reason = f"GitHub API at {url} unreachable or invalid ({type(err).__name__}: {err})"
        finally:
            if api is not None:
                api.close()
    fallback_path.parent.mkdir(parents=True, exist_ok=True)
    fallback_path.write_text(with_marker(marker, body), encoding="utf-8")
    # What a `workflow_run` poster needs and cannot read from a fork's run: where to post it.
    fallback_path.with_suffix(".json").write_text(json.dumps({
        "repository": repository or None, "pull_request": number, "marker": marker,
        "body_path": fallback_path.name, "reason": reason}, indent=2) + "\n", encoding="utf-8")
    return CommentOutcome(False, "written-to-file", path=str(fallback_path), reason=reason)


def _message(err: Exception) -> str:
    data = getattr(err, "data", None)
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return str(err)[:200]
