"""Where a rollout is announced on GitHub: deployment statuses and the sticky PR comment.

Best effort by design: GitHub being down must never stop or delay a rollback, so every
failure here becomes one warning (collected in `warnings`, for the command to write) and the
rollout carries on. Without a token or outside a repository context, nothing is sent (the job
summary and the JSON report still are).
"""

from __future__ import annotations

from pathlib import Path

from ml_actions.config.settings import Config
from ml_actions.github.comments import CommentOutcome, comment_marker, publish_sticky_comment
from ml_actions.github.rest_client import GitHubApi
from ml_actions.github.workflow_context import WorkflowContext

STATES = {"promoted": "success", "rolled_back": "failure", "aborted": "error",
          "inconclusive": "failure"}


class GithubRolloutPublisher:
    """A GitHub deployment for the environment with `in_progress` -> `success` / `failure`."""

    def __init__(self, context: WorkflowContext, token: str | None, config: Config,
                 model_name: str, report_dir: str | Path):
        self.context, self.token, self.config = context, token, config
        self.model_name, self.report_dir = model_name, Path(report_dir)
        self.ref = context.ref
        self.deployment_id: int | None = None
        self.warnings: list[str] = []
        self.api = (GitHubApi.for_workflow(context, token, config.github.api_url, throttle=False)
                    if self.ref else None)

    def _try(self, what: str, call) -> None:
        try:
            call()
        except Exception as err:  # noqa: BLE001 - GitHub never decides a rollout
            self.warnings.append(f"GitHub: could not {what} ({str(err)[:200]}); the rollout "
                                 "is unaffected")

    def started(self, version: str) -> None:
        if self.api is None:
            return

        def create() -> None:
            self.deployment_id = self.api.create_deployment(
                self.ref, self.config.environment,
                description=f"canary of {self.model_name} v{version}",
                payload={"model_name": self.model_name, "version": version},
                production=self.config.environment == "prod")
            self.api.set_deployment_status(self.deployment_id, "in_progress",
                                           f"canary of v{version} started")

        self._try("record the deployment", create)

    def finished(self, result, markdown: str) -> CommentOutcome:
        """Close the deployment and post the sticky comment; returns where the comment went."""
        if self.api is not None and self.deployment_id is not None:
            self._try("update the deployment status", lambda: self.api.set_deployment_status(
                self.deployment_id, STATES[result.result],
                f"{result.result.replace('_', ' ')}: {result.reason}"))
        marker = comment_marker(self.config.canary.comment_id, self.model_name)
        outcome = publish_sticky_comment(
            self.context, markdown, marker, self.token,
            self.report_dir / "rollout-comment.md",
            base_url=self.context.api_url_or(self.config.github.api_url),
            enabled=self.config.github.comment, throttle=False,
            author=self.config.github.comment_author)
        if self.api is not None:
            self.api.close()
        return outcome

    def take_warnings(self) -> list[str]:
        """The warnings since the last call, for the command to write to the log."""
        taken, self.warnings = self.warnings, []
        return taken
