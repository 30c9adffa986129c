"""The gateway's durable state: which model each slot serves, the weight, and who changed them.

Written on every change with write-to-temp + fsync + `os.replace`, so a crash leaves either the
old file or the new one, never half of one; a restarted gateway reads it and loads the same
models with the same weights. The history records who changed what and when, for the audit.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ml_actions.errors import ConfigurationError
from ml_actions.serving_contract import TargetState
from ml_actions.timestamps import now_iso

STATE_FILE = "gateway-state.json"
URI = re.compile(r"^models:/(?P<name>[^/@]+)/v?(?P<version>\d+)$")  # a concrete version


class StateStore:
    def __init__(self, state_dir: Path, history_limit: int = 200):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / STATE_FILE
        self.history_limit = history_limit

    def load(self) -> TargetState | None:
        """The saved state, or None on first start."""
        if not self.path.exists():
            return None
        try:
            return TargetState.from_dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as err:
            raise ConfigurationError(
                f"{self.path} is not a gateway state file ({err}); move it away to start empty"
            ) from None

    def served_versions(self) -> set[tuple[str, str]] | None:
        """(name, version) of every slot the saved state names, loaded or on its way in: what
        a restart loads, so the artifact cache keeps them. None when the file is unreadable."""
        try:
            saved = self.load()
        except ConfigurationError:
            return None
        versions: set[tuple[str, str]] = set()
        for slot in (saved.slots.values() if saved else ()):
            if slot.model_name and slot.model_version:
                versions.add((slot.model_name, slot.model_version))
            requested = URI.match(slot.requested_uri or "")
            if requested:
                versions.add((requested["name"], requested["version"]))
        return versions

    def record(self, state: TargetState, actor: str, action: str, detail: dict) -> None:
        """Stamp `state` with the change and save it."""
        state.updated_at = now_iso("milliseconds")
        state.updated_by = actor
        state.history.append({"at": state.updated_at, "by": actor, "action": action, **detail})
        del state.history[:-self.history_limit]
        self.save(state)

    def save(self, state: TargetState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(state.to_dict(), indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
