"""A rollout's durable state: one JSON document in one MLflow model-version tag on the candidate.

A GitHub-hosted job stops after 6 h and a runner can die at any moment, so the rollout keeps
nothing important in memory: the step, weights, timestamps, failure counts, the last decision
and whether traffic was already flipped to the candidate are written to the registry before
and after every transition (and the `canary` alias points at the candidate while it runs).

Why one document: MLflow has no batch write for model-version tags, so state spread over one
tag per field was written in one REST call per tag, and a runner (or MLflow) dying between two
of them left a mix of two states that `--resume` then trusted. `rollout.state` is written in a
single call, so it is either the old state or the new one; it is the only thing `from_tags`
reads. The `rollout.<field>` tags (`rollout.status`, `rollout.phase`, ...) are mirrors written
after it for humans and for tools that filter on them: informational, never read back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Protocol

from ml_actions.errors import InfrastructureError, MlActionsError, RegistryError, first_line
from ml_actions.redaction import redact

PREFIX = "rollout."
STATE_TAG = PREFIX + "state"
STATE_FORMAT = 1
STATUSES = ("running", "promoted", "rolled_back", "aborted", "inconclusive")
# Older MLflow servers store a model-version tag value in VARCHAR(5000); newer ones take 100 000.
TAG_VALUE_LIMIT = 4000  # every tag we write, the state document included, stays under this
# Shortened first, in this order, when the document would pass the limit: never the JSON itself.
SHORTENED = ("last_decision", "reason", "run_url")
NOT_MIRRORED = ("updated_at",)  # changes at every save: in the document only, one call less


@dataclass
class RolloutState:
    """Everything needed to continue, abort or audit a rollout."""

    status: str = "running"
    phase: str = "loading"  # loading | shadow | step | bake | promoting | done
    step_index: int = 0
    weight: float = 0.0
    steps: list[float] = field(default_factory=list)
    stable_version: str = ""
    started_at: str = ""
    step_started_at: str = ""
    updated_at: str = ""
    failures: int = 0
    consecutive_failures: int = 0
    reason: str = ""
    validation_check: str = "passed"  # passed | passed-unverified | skipped
    environment: str = ""
    run_url: str = ""
    last_decision: str = ""  # compact JSON of the last evaluation's failing checks
    # Stable's last evidence before it stopped serving: what the 100 % stage compares with.
    baseline_since: str = ""
    baseline_until: str = ""
    shadow_verdict: str = ""  # passed once the shadow phase passed: --resume skips it
    # A guard period the shadow phase borrowed the shadow slot from (JSON: uri, share, until),
    # recorded before the slot is taken so that a resumed phase can still give it back.
    shadow_guard: str = ""
    # The commit point: when the target moved 100 % of traffic to the candidate. From then on
    # nothing rolls traffic back; `--resume` only finishes the registry writes.
    flipped_at: str = ""
    # The champion the flip replaced, recorded before the flip so that a resume names the same
    # one for @previous-champion however far the registry writes got.
    previous_champion: str = ""

    # -- the document -------------------------------------------------------------------------
    def to_json(self, limit: int = TAG_VALUE_LIMIT) -> str:
        """The state as one JSON document of at most `limit` characters.

        Free text is shortened to fit (`SHORTENED`, in order), so the document always parses.
        """
        data = {"format": STATE_FORMAT, **{k: redact(v) if isinstance(v, str) else v
                                           for k, v in asdict(self).items()}}
        text = _dump(data)
        for name in SHORTENED:
            while len(text) > limit and data[name]:
                over = len(text) - limit
                data[name] = data[name][:max(0, len(data[name]) - over - 1)]
                text = _dump(data)
        if len(text) > limit:
            raise ValueError(f"the rollout state needs {len(text)} characters, over {limit}")
        return text

    @classmethod
    def from_json(cls, text: str) -> RolloutState:
        """The state of a document; unknown keys (a newer ml-actions) are ignored."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise RegistryError(f"the {STATE_TAG} tag is not a JSON document ({err}); fix or "
                                "delete it in the MLflow UI") from None
        if not isinstance(data, dict):
            raise RegistryError(f"the {STATE_TAG} tag is not a JSON object")
        state = cls()
        for f in fields(cls):
            if f.name in data and data[f.name] is not None:
                value = data[f.name]
                if f.name == "steps":
                    value = [float(v) for v in value]
                elif f.name in ("step_index", "failures", "consecutive_failures"):
                    value = int(value)
                elif f.name == "weight":
                    value = float(value)
                else:
                    value = str(value)
                setattr(state, f.name, value)
        return state

    # -- tags ---------------------------------------------------------------------------------
    def mirror_tags(self) -> dict[str, str]:
        """The human-readable `rollout.<field>` tags: informational, never read back."""
        tags = {}
        for f in fields(self):
            if f.name in NOT_MIRRORED:
                continue
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = ",".join(f"{v:g}" for v in value)
            tags[PREFIX + f.name] = str(value)[:TAG_VALUE_LIMIT]
        return tags

    def to_tags(self) -> dict[str, str]:
        """Every tag, the state document first: written in this order, it commits first."""
        return {STATE_TAG: self.to_json(), **self.mirror_tags()}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> RolloutState | None:
        """The state written by an earlier run, or None when this version never rolled out.

        Only `rollout.state` counts: mirrors may be from an older save that never finished.
        """
        text = tags.get(STATE_TAG)
        return None if text is None else cls.from_json(text)


def _dump(data: dict) -> str:
    # ", " and ": " keep whitespace between tokens, so the registry's URL redaction (which
    # stops at whitespace) can never join two values into one match.
    return json.dumps(data, ensure_ascii=False, default=str)


class MirrorWriteError(InfrastructureError):
    """The state was committed, but a mirror tag after it could not be written."""


class TagWriter(Protocol):
    def set_tags(self, name: str, version: str, tags: dict[str, object]) -> None: ...


def write_state(registry: TagWriter, model_name: str, version: str, state: RolloutState,
                written: dict[str, str] | None = None) -> dict[str, str]:
    """Commit `state` in one registry call, then update the mirrors that changed.

    `written`: the tags as they are on the version (what the last call returned, or its
    tags); returns the tags now written, for the next call. A failure after the commit is
    `MirrorWriteError`, so a caller past its point of no return knows the state is saved.
    """
    written = dict(written or {})
    document = state.to_json()
    registry.set_tags(model_name, version, {STATE_TAG: document})  # the commit: one call
    written[STATE_TAG] = document
    changed = {k: v for k, v in state.mirror_tags().items() if written.get(k) != v}
    try:
        registry.set_tags(model_name, version, changed)
    except MlActionsError as err:
        raise MirrorWriteError(f"the rollout state of v{version} was saved, but not its "
                               f"{PREFIX}* mirror tags ({first_line(err, 200)})") from err
    written.update(changed)
    return written


def decision_digest(checks: list) -> str:
    """The failing checks of an evaluation as a short JSON for the `rollout.last_decision` tag."""
    rows = [{"check": c.name, "verdict": c.verdict, "value": c.value, "threshold": c.threshold,
             "n": c.sample_size} for c in checks]
    return json.dumps(rows, default=str)[:TAG_VALUE_LIMIT]
