"""What the workflow run tells us about itself, read once from the environment the runner sets.

The GitHub code needs the repository, the commit, the API server (right for GitHub Enterprise
Server through `$GITHUB_API_URL`), the run's URL and the pull request that triggered it. It
reads them here, never by writing anything: only `ml_actions.cli` talks back to the runner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class WorkflowContext:
    """The run's repository, commit, servers and triggering event."""

    repository: str = ""
    ref: str = ""
    api_url: str | None = None
    server_url: str = "https://github.com"
    run_id: str = ""
    event: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkflowContext:
        return cls(repository=env.get("GITHUB_REPOSITORY", ""),
                   ref=env.get("GITHUB_SHA") or env.get("GITHUB_REF", ""),
                   api_url=env.get("GITHUB_API_URL") or None,
                   server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
                   run_id=env.get("GITHUB_RUN_ID", ""),
                   event=read_event(env.get("GITHUB_EVENT_PATH")))

    @property
    def pull_request_number(self) -> int | None:
        event = self.event
        number = (event.get("pull_request") or {}).get("number")
        if number is None and "issue" in event and "pull_request" in event["issue"]:
            number = event["issue"].get("number")
        return int(number) if number is not None else None

    @property
    def run_url(self) -> str:
        """The URL of this workflow run, or '' outside GitHub."""
        if self.run_id and self.repository:
            return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return ""

    def api_url_or(self, configured: str | None = None) -> str:
        """`$GITHUB_API_URL` (right for GHES), then the configured URL, then github.com."""
        return self.api_url or configured or DEFAULT_API_URL


def read_event(path: str | None) -> dict:
    """The webhook payload that triggered the run (`$GITHUB_EVENT_PATH`), or {}."""
    if not path or not Path(path).is_file():
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
