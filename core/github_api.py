"""The GitHub REST calls ml-actions makes: a sticky PR comment and deployment records.

A report is posted as ONE comment per model, found again by a hidden HTML marker that carries
an id (`<!-- ml-actions:validate-model:fraud_detector -->`) and edited in place, so a PR that
is pushed ten times has one up-to-date comment instead of ten stale ones, and two workflows
with different ids do not overwrite each other.

Posting a comment is a courtesy, never part of the verdict: with no token, outside a pull
request, or with the read-only token of a fork (HTTP 403), the comment is written to a file
(with a `.json` beside it naming the repository, the PR and the marker), an output says
where, and a `workflow_run` workflow can post it. `base_url` comes from
`$GITHUB_API_URL`, which the runner sets to the right server on GitHub Enterprise Server.

Deployments: the canary release records itself as a GitHub deployment (created once, then
statuses `in_progress` -> `success` | `failure`), so the environment page shows what runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.github_actions import ActionsRunner
from core.templating import truncate_for_comment

DEFAULT_API_URL = "https://api.github.com"
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending",
                     "success")
FORK_HINT = (
    "the token cannot write to this repository (HTTP 403: a pull request from a fork gets a "
    "read-only token); post the file from a `workflow_run` workflow, or grant "
    "`pull-requests: write`"
)


def comment_marker(kind: str, key: str) -> str:
    """The hidden marker of a sticky comment; `key` (a model name) cannot close the comment."""
    safe = re.sub(r"[^A-Za-z0-9_.:/@+=-]", "_", f"{kind}:{key}").replace("--", "-_")
    return f"<!-- ml-actions:{safe} -->"


@dataclass
class CommentOutcome:
    """Where a report comment went: posted (created/updated) or written to a file."""

    posted: bool
    action: str  # created | updated | written-to-file
    url: str | None = None
    path: str | None = None
    reason: str | None = None


class GitHubApi:
    """PyGithub over one repository, with bounded retries and no extra reads."""

    def __init__(self, token: str, repository: str, base_url: str | None = None,
                 timeout: int = 15, retries: int = 2, throttle: bool = True):
        from github import Auth, Github, GithubRetry

        throttle_args: dict[str, Any] = {} if throttle else {
            "seconds_between_requests": None, "seconds_between_writes": None}
        # lazy: `get_repo`/`get_issue` build URLs without a GET each (a fork token may read
        # nothing but the PR it runs for).
        self.github = Github(auth=Auth.Token(token), base_url=(base_url or DEFAULT_API_URL)
                             .rstrip("/"), timeout=timeout, retry=GithubRetry(total=retries),
                             lazy=True, **throttle_args)
        self.repository = repository
        self.repo = self.github.get_repo(repository)

    @classmethod
    def from_runner(cls, runner: ActionsRunner, token: str | None,
                    configured_url: str | None = None, throttle: bool = True
                    ) -> GitHubApi | None:
        """The client for this workflow's repository, or None without a token or
        `$GITHUB_REPOSITORY` (outside GitHub: deployments are simply not recorded)."""
        repository = runner.env.get("GITHUB_REPOSITORY", "")
        if not token or "/" not in repository:
            return None
        return cls(token, repository, api_url(runner, configured_url), throttle=throttle)

    def close(self) -> None:
        self.github.close()

    # -- sticky comments -------------------------------------------------------------------
    def find_comment(self, number: int, marker: str):
        """The first comment on PR `number` whose body carries `marker`, or None."""
        for comment in self.repo.get_issue(number).get_comments():
            if marker in (comment.body or ""):
                return comment
        return None

    def upsert_comment(self, number: int, marker: str, body: str) -> CommentOutcome:
        """Edit the comment carrying `marker` in place, or create it."""
        text = with_marker(marker, body)
        existing = self.find_comment(number, marker)
        if existing is not None:
            existing.edit(text)
            return CommentOutcome(True, "updated", url=existing.html_url)
        created = self.repo.get_issue(number).create_comment(text)
        return CommentOutcome(True, "created", url=created.html_url)

    # -- deployments -----------------------------------------------------------------------
    def create_deployment(self, ref: str, environment: str, description: str = "",
                          payload: dict[str, Any] | None = None, production: bool = False,
                          transient: bool = False) -> int:
        """Record a deployment of `ref` to `environment`; returns its id.

        `required_contexts=[]` and `auto_merge=False`: the gate already ran, so GitHub must
        neither re-check commit statuses nor merge the default branch into `ref`.
        """
        deployment = self.repo.create_deployment(
            ref=ref, environment=environment, description=description[:140],
            payload=payload or {}, auto_merge=False, required_contexts=[],
            production_environment=production, transient_environment=transient)
        return int(deployment.id)

    def set_deployment_status(self, deployment_id: int, state: str, description: str = "",
                              environment_url: str | None = None,
                              log_url: str | None = None) -> None:
        """Add a status (`in_progress`, `success`, `failure`, ...) to a deployment."""
        if state not in DEPLOYMENT_STATES:
            raise ValueError(f"deployment state {state!r} is not one of {DEPLOYMENT_STATES}")
        deployment = self.repo.get_deployment(deployment_id)
        extra: dict[str, Any] = {}
        if environment_url:
            extra["environment_url"] = environment_url
        if log_url:
            extra["target_url"] = log_url
        deployment.create_status(state=state, description=description[:140], **extra)


def with_marker(marker: str, body: str) -> str:
    """The marker on the first line, the body cut to GitHub's comment limit."""
    from core.templating import GITHUB_COMMENT_LIMIT

    return marker + "\n" + truncate_for_comment(body, GITHUB_COMMENT_LIMIT - len(marker) - 1)


def api_url(runner: ActionsRunner, configured: str | None = None) -> str:
    """`$GITHUB_API_URL` (set by the runner, right for GHES), then the config, then github.com."""
    return runner.env.get("GITHUB_API_URL") or configured or DEFAULT_API_URL


def publish_sticky_comment(runner: ActionsRunner, body: str, marker: str, token: str | None,
                           fallback_path: Path, base_url: str | None = None,
                           enabled: bool = True, throttle: bool = True) -> CommentOutcome:
    """Post `body` as the sticky comment of this PR, or write it to `fallback_path`.

    Never raises for GitHub's answers: the caller's verdict does not depend on a comment.
    """
    from github import GithubException
    from requests import RequestException

    repository = runner.env.get("GITHUB_REPOSITORY", "")
    number = runner.pull_request_number()
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
        url = base_url or api_url(runner)
        api = None
        try:
            api = GitHubApi(token, repository, url, throttle=throttle)
            return api.upsert_comment(number, marker, body)
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


def post_saved_comment(sidecar: Path, token: str, base_url: str | None = None,
                       throttle: bool = True) -> CommentOutcome:
    """Post a comment that `publish_sticky_comment` saved (from a `workflow_run` job, whose
    token may write). Unlike the first attempt, failures here raise: posting is this job's
    only purpose."""
    meta = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    if not meta.get("repository") or not meta.get("pull_request"):
        raise ValueError(f"{sidecar} names no repository or pull request: nothing to post to")
    text = (Path(sidecar).parent / meta["body_path"]).read_text(encoding="utf-8")
    marker = meta["marker"]
    body = text[len(marker) + 1:] if text.startswith(marker + "\n") else text
    api = GitHubApi(token, meta["repository"], base_url, throttle=throttle)
    try:
        return api.upsert_comment(int(meta["pull_request"]), marker, body)
    finally:
        api.close()
