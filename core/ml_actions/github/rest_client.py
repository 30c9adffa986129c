"""The GitHub REST calls ml-actions makes, through PyGithub: PR comments and deployments.

Deployments: the canary release records itself as a GitHub deployment (created once, then
statuses `in_progress` -> `success` | `failure`), so the environment page shows what runs.
`base_url` comes from `$GITHUB_API_URL`, which the runner sets to the right server on GitHub
Enterprise Server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_actions.github.workflow_context import DEFAULT_API_URL, WorkflowContext
from ml_actions.redaction import redact
from ml_actions.templating import GITHUB_COMMENT_LIMIT, truncate_for_comment

# Who posts our comments with the workflow's GITHUB_TOKEN; `github.comment_author` otherwise.
DEFAULT_COMMENT_AUTHOR = "github-actions[bot]"
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending",
                     "success")


@dataclass
class CommentOutcome:
    """Where a report comment went: posted (created/updated) or written to a file."""

    posted: bool
    action: str  # created | updated | written-to-file
    url: str | None = None
    path: str | None = None
    reason: str | None = None


def with_marker(marker: str, body: str) -> str:
    """The marker on the first line, the body cut to GitHub's comment limit."""
    return marker + "\n" + truncate_for_comment(redact(body),
                                                 GITHUB_COMMENT_LIMIT - len(marker) - 1)


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
    def for_workflow(cls, context: WorkflowContext, token: str | None,
                     configured_url: str | None = None, throttle: bool = True
                     ) -> GitHubApi | None:
        """The client for this workflow's repository, or None without a token or
        `$GITHUB_REPOSITORY` (outside GitHub: deployments are simply not recorded)."""
        if not token or "/" not in context.repository:
            return None
        return cls(token, context.repository, context.api_url_or(configured_url),
                   throttle=throttle)

    def close(self) -> None:
        self.github.close()

    # -- sticky comments -------------------------------------------------------------------
    def find_comment(self, number: int, marker: str, author: str = DEFAULT_COMMENT_AUTHOR):
        """Our comment on PR `number`: it starts with `marker` AND `author` wrote it, or None.

        The marker alone is public: anyone can post a comment that starts with it, and
        matching it alone would let them hijack (we would edit theirs) or block the report.
        """
        for comment in self.repo.get_issue(number).get_comments():
            if (comment.body or "").startswith(marker) and comment.user is not None \
                    and comment.user.login == author:
                return comment
        return None

    def upsert_comment(self, number: int, marker: str, body: str,
                       author: str = DEFAULT_COMMENT_AUTHOR) -> CommentOutcome:
        """Edit our comment carrying `marker` in place, or create it."""
        text = with_marker(marker, body)
        existing = self.find_comment(number, marker, author)
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
            ref=ref, environment=environment, description=redact(description)[:140],
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
        deployment.create_status(state=state, description=redact(description)[:140], **extra)
