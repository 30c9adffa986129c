"""One rollout of a model at a time: a lock in the MLflow registry, taken by compare-and-set.

Checking the `canary` alias and then writing tags let two runners both pass the check. MLflow
has no compare-and-set on tags or aliases, but registered model names are unique in its
database: of any number of concurrent `create_registered_model` calls for one name exactly one
succeeds, the others get RESOURCE_ALREADY_EXISTS. The lock is the registered model
`<model>.rollout-lock`, created with tags that name its holder (unique per process), the CI
run (GITHUB_RUN_ID.GITHUB_RUN_ATTEMPT, or a local id), the candidate version and since when.

The holder writes `rollout.lock_holder` on the candidate after its rollout state, so any
runner can judge a lock: its rollout still running -> held (a new start is refused; `--resume`
of that version adopts it, since its runner died); its rollout ended without releasing ->
stale, taken over and recorded; no rollout recorded yet -> held for `GRACE_SECONDS`, then
stale (its holder died while starting).

Replacing or releasing a lock is delete then create, which is not atomic, so every change to a
lock held by H is made while holding a second cell, `<model>.rollout-lock.<H>`: two runners
never both replace H's lock, nor does one release a lock another just took over. A fresh start
needs no second cell: its create is the compare-and-set.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from ml_actions.errors import InfrastructureError, InputError
from ml_actions.registry import Registry
from ml_actions.timestamps import epoch_from_iso, iso_from_epoch, now_iso

SUFFIX = ".rollout-lock"
KIND_TAG = "ml_actions.kind"  # `rollout-lock` or `rollout-lock-guard`: filter them out
HOLDER_TAG = "rollout.lock_holder"  # on the candidate version, written after its state
TAKEOVER_TAG = "rollout.lock_takeover"  # on the candidate version, when it took a lock over
GRACE_SECONDS = 600.0
GUARD_WAIT_SECONDS = 5.0
DESCRIPTION = ("Not a model: the lock ml-actions canary-deploy holds while {model} v{version} "
               "rolls out (run {run_id}). Deleted when the rollout ends; a later canary-deploy "
               "takes it over once that rollout no longer runs, `ml-actions rollback` removes it.")


@dataclass(frozen=True)
class LockHolder:
    """Who takes locks: `holder` is unique per process, `run_id` names the CI run for people."""

    holder: str
    run_id: str
    run_url: str = ""


def this_run(env: Mapping[str, str] | None = None, run_url: str = "") -> LockHolder:
    """This process as a holder; two jobs of one workflow run still get distinct holders."""
    env = os.environ if env is None else env
    if env.get("GITHUB_RUN_ID"):
        run_id = f"{env['GITHUB_RUN_ID']}.{env.get('GITHUB_RUN_ATTEMPT') or '1'}"
    else:
        run_id = f"local-{socket.gethostname()}-{os.getpid()}"
    run_id = re.sub(r"[^A-Za-z0-9._-]", "-", run_id)[:80]  # part of a registered model name
    return LockHolder(f"{run_id}-{uuid.uuid4().hex[:8]}", run_id, run_url)


@dataclass(frozen=True)
class LockRecord:
    """A lock as its tags say: who holds it, for which version, since when."""

    holder: str
    run_id: str
    version: str
    since: str
    run_url: str = ""
    took_over: str = ""  # the stale or adopted lock this one replaced, and why

    @classmethod
    def from_tags(cls, tags: dict[str, str], created_ms: int) -> LockRecord:
        since = tags.get("lock.since") or (iso_from_epoch(created_ms / 1000) if created_ms
                                           else now_iso())
        return cls(tags.get("lock.holder", ""), tags.get("lock.run_id", "unknown"),
                   tags.get("lock.version", ""), since, tags.get("lock.run_url", ""),
                   tags.get("lock.took_over", ""))

    def tags(self) -> dict[str, str]:
        return {KIND_TAG: "rollout-lock", "lock.holder": self.holder, "lock.run_id": self.run_id,
                "lock.version": self.version, "lock.since": self.since,
                "lock.run_url": self.run_url, "lock.took_over": self.took_over[:4000]}

    def describe(self) -> str:
        return f"run {self.run_id}, v{self.version or '?'}, since {self.since}"


class RolloutLock:
    """The lock on one model's rollouts, as one runner (`me`) takes, adopts and releases it."""

    def __init__(self, registry: Registry, model_name: str, me: LockHolder,
                 grace_seconds: float = GRACE_SECONDS):
        if SUFFIX in model_name:
            raise InputError(f"--model-name {model_name!r}: names containing {SUFFIX!r} are the "
                             "rollout locks of ml-actions, not models")
        self.registry, self.model_name, self.me = registry, model_name, me
        self.name, self.grace_seconds = model_name + SUFFIX, grace_seconds
        self.held: LockRecord | None = None
        self.took_over: LockRecord | None = None  # the lock this runner replaced, if any
        self.took_over_why = ""

    def read(self) -> LockRecord | None:
        found = self.registry.model_tags_if_present(self.name)
        return None if found is None else LockRecord.from_tags(*found)

    # -- taking -------------------------------------------------------------------------------
    def acquire(self, version: str, adopt: bool = False) -> LockRecord:
        """Hold the lock for `version`, or raise InputError naming its holder and the fix.

        `adopt` (`--resume`): a lock on this same version is taken over whoever holds it; its
        runner died, which is why the rollout is being resumed."""
        for _ in range(3):  # each round ends in a held lock, a refusal, or a lost race
            if self._create(version):
                return self._holding()
            current = self.read()
            if current is None:
                continue  # released between our create and our read
            if current.holder == self.me.holder:
                self.held = current  # our own create, answered as a conflict after a retry
                return current
            if adopt and current.version == version:
                why = f"adopted by --resume of v{version}"
            else:
                why = self.stale_reason(current)
            if why is None:
                raise InputError(self.refusal(current))
            if self._replace(current, version, why):
                return self._holding()
        current = self.read()
        raise InputError(self.refusal(current) if current else
                         f"the lock {self.name} changed hands three times while this run tried "
                         "to take it; try again")

    def stale_reason(self, record: LockRecord) -> str | None:
        """Why `record` no longer guards a running rollout, or None while it does."""
        tags = self.registry.version_tags_if_present(self.model_name, record.version) \
            if record.version.isdigit() else None
        if tags is None:
            return f"v{record.version or '?'} no longer exists"
        status = tags.get("rollout.status") or "unset"
        if record.holder and tags.get(HOLDER_TAG) == record.holder:
            return None if status == "running" else \
                f"its rollout ended (rollout.status={status}) without releasing the lock"
        try:
            age = time.time() - epoch_from_iso(record.since)
        except ValueError:  # edited by hand: no age to wait for
            age = float("inf")
        if age > self.grace_seconds:
            return (f"its holder recorded no rollout on v{record.version} in {age / 60:.0f} "
                    "min: it died while starting")
        return None

    def refusal(self, record: LockRecord) -> str:
        """The one line a refused start prints: who holds the lock and what to do."""
        return (f"a rollout of {self.model_name!r} is already running: {self.name} is held by "
                f"{record.describe()}; pass --resume to continue it (its runner died), or run "
                "`ml-actions rollback` to stop it (a lock whose holder never recorded its "
                f"rollout is taken over after {self.grace_seconds / 60:.0f} min)")

    # -- giving back --------------------------------------------------------------------------
    def release(self) -> bool:
        """Delete the lock if this runner still holds it; True when it did."""
        held, self.held = self.held, None
        if held is None:
            return False
        with self._guard(held):
            current = self.read()
            if current is None or current.holder != held.holder:
                return False  # taken over meanwhile: it is no longer ours to delete
            return self.registry.delete_model_if_present(self.name)

    def release_if_ended(self) -> str:
        """canary-deploy's last act: release, unless the rollout still runs (a crash before
        any ending: the lock stays for `--resume` to adopt). Says what it did, for the log."""
        held = self.held
        if held is None:
            return ""
        tags = self.registry.version_tags_if_present(self.model_name, held.version) or {}
        if tags.get("rollout.status") == "running" and tags.get(HOLDER_TAG) == held.holder:
            return (f"{self.name} stays held: the rollout of v{held.version} is still running; "
                    "pass --resume to continue it, or run `ml-actions rollback` to stop it")
        released = self.release()
        return f"released {self.name}" if released else ""

    def break_if_stale(self, version: str) -> LockRecord | None:
        """Remove a lock on `version` whose rollout no longer runs (after a rollback)."""
        record = self.read()
        if record is None or record.version != version or self.stale_reason(record) is None:
            return None
        with self._guard(record):
            current = self.read()
            if current is None or current.holder != record.holder:
                return None
            self.registry.delete_model_if_present(self.name)
        return record

    # -- plumbing -----------------------------------------------------------------------------
    def _create(self, version: str, took_over: str = "") -> bool:
        record = LockRecord(self.me.holder, self.me.run_id, version, now_iso(),
                            self.me.run_url, took_over)
        text = DESCRIPTION.format(model=self.model_name, version=version, run_id=record.run_id)
        if not self.registry.create_model_if_absent(self.name, record.tags(), text):
            return False
        self.held = record
        return True

    def _holding(self) -> LockRecord:
        assert self.held is not None
        return self.held

    def _replace(self, seen: LockRecord, version: str, why: str) -> bool:
        """Swap `seen` (stale, or adopted) for a lock of ours; False when someone else did."""
        with self._guard(seen):
            current = self.read()
            if current is not None and current.holder != seen.holder:
                return False  # replaced before us: the caller judges the new lock
            if current is not None:
                self.registry.delete_model_if_present(self.name)
            if not self._create(version, took_over=f"{seen.describe()}: {why}"):
                return False  # a fresh start took it in between: the caller judges that one
        self.took_over, self.took_over_why = seen, why
        return True

    @contextmanager
    def _guard(self, record: LockRecord) -> Iterator[None]:
        """The exclusive right to change the lock `record` describes (its holder's cell)."""
        cell = f"{self.name}.{record.holder or 'unknown'}"
        tags = {KIND_TAG: "rollout-lock-guard", "lock.holder": self.me.holder,
                "lock.since": now_iso()}
        deadline = time.monotonic() + GUARD_WAIT_SECONDS
        while not self.registry.create_model_if_absent(cell, tags, "Not a model: see "
                                                       f"{self.name}; removed within seconds."):
            found = self.registry.model_tags_if_present(cell)
            if found is not None and found[0].get("lock.holder") == self.me.holder:
                break  # our own create, answered as a conflict after a retry
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"the lock {self.name} held by {record.describe()} is being changed by "
                    f"another runner ({cell!r} exists); if no other canary-deploy or rollback "
                    f"of {self.model_name!r} runs, delete the registered model {cell!r} and "
                    "try again")
            time.sleep(0.1)
        try:
            yield
        finally:
            self.registry.delete_model_if_present(cell)


def release_stopped_rollout(registry: Registry, model_name: str, version: str | None) -> None:
    """After `ml-actions rollback` stopped the rollout of `version`: remove the lock it left.

    Best effort, after traffic is safe and the registry recorded it: a lock left behind is
    stale anyway (its rollout no longer runs), and the next start takes it over."""
    if not version:
        return
    try:
        RolloutLock(registry, model_name, this_run()).break_if_stale(version)
    except Exception:  # noqa: BLE001 - see above: a rollback never fails for its lock
        pass
