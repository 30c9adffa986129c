"""Where a rollout is announced on GitHub: deployment statuses and the sticky PR comment.

Best effort by design: GitHub being down must never stop or delay a rollback, so every
failure here is one warning and the rollout carries on. Without a token or outside a
repository context, nothing is sent (the job summary and the JSON report still are).
"""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from core.github_actions import ActionsRunner

STATES = {"promoted": "success", "rolled_back": "failure", "aborted": "error"}


class GithubRolloutPublisher:
    """A GitHub deployment for the environment with `in_progress` -> `success` / `failure`."""

    def __init__(self, runner: ActionsRunner, token: str | None, config: Config,
                 model_name: str, report_dir: str | Path):
        self.runner, self.token, self.config = runner, token, config
        self.model_name, self.report_dir = model_name, Path(report_dir)
        self.repository = runner.env.get("GITHUB_REPOSITORY", "")
        self.ref = runner.env.get("GITHUB_SHA") or runner.env.get("GITHUB_REF", "")
        self.deployment_id: int | None = None
        self.api = None
        if token and "/" in self.repository and self.ref:
            from core.github_api import GitHubApi, api_url

            self.api = GitHubApi(token, self.repository,
                                 api_url(runner, config.github.api_url), throttle=False)

    def _try(self, what: str, call) -> None:
        try:
            call()
        except Exception as err:  # noqa: BLE001 - GitHub never decides a rollout
            self.runner.warning(f"GitHub: could not {what} ({str(err)[:200]}); the rollout "
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

    def finished(self, result, markdown: str) -> None:
        from core.github_api import comment_marker, publish_sticky_comment

        if self.api is not None and self.deployment_id is not None:
            self._try("update the deployment status", lambda: self.api.set_deployment_status(
                self.deployment_id, STATES[result.result],
                f"{result.result.replace('_', ' ')}: {result.reason}"))
        marker = comment_marker(self.config.canary.comment_id, self.model_name)
        outcome = publish_sticky_comment(
            self.runner, markdown, marker, self.token,
            self.report_dir / "rollout-comment.md",
            base_url=self.runner.env.get("GITHUB_API_URL") or self.config.github.api_url,
            enabled=self.config.github.comment, throttle=False)
        self.runner.set_output("comment-url", outcome.url or "")
        if self.api is not None:
            self.api.close()


def publish_to_github(runner: ActionsRunner, token: str | None, config: Config,
                      model_name: str, report_dir: str | Path) -> GithubRolloutPublisher:
    return GithubRolloutPublisher(runner, token, config, model_name, report_dir)
