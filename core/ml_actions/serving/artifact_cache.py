"""Downloaded model versions kept on disk by name and version, reused across restarts.

Why: a gateway restarted while MLflow is down must still serve what its state file names, and
a restart (or a rollback to a recent version) should not download a model again. A registered
version's files never change, so `<root>/<name>/<version>/` stays valid once it is complete.
A version is downloaded into a hidden `.partial-*` folder beside it; its reference
(`ref.json`: name, version, source, run id, tags) and the `COMPLETE` marker are written and
flushed to disk, and only then is the folder renamed into place. A crash mid-download leaves a
partial folder (swept an hour later), never a version that looks whole.

The cache is bounded: beyond the `keep` most recently used versions the rest are deleted,
except the versions a live model of this process holds (`open` until its release) and the
ones `protected()` names (the slots in the gateway's state file: what a restart will load).
When `protected()` cannot tell (None), nothing is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

MARKER = "COMPLETE"
REF_FILE = "ref.json"
LAST_USED = "last-used"
PARTIAL = ".partial-"
STALE_PARTIAL_SECONDS = 3600.0

Key = tuple[str, str]  # (model name, version)


def _safe(part: str) -> str:
    """A path component that stays inside the cache whatever the registry name is."""
    text = quote(part, safe="-_.")
    return "%2E" + text[1:] if text.startswith(".") else text


def _mark_used(folder: Path) -> None:
    """The last use, to the nanosecond (a plain touch can tie within a clock tick)."""
    path = folder / LAST_USED
    path.touch()
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Every file and folder below `folder` on disk: the marker must never outlive them."""
    for path in [*folder.rglob("*"), folder]:
        _fsync(path)


@dataclass(frozen=True)
class CachedVersion:
    """One complete version on disk: the folder holding its `MLmodel`, and its reference."""

    name: str
    version: str
    model_dir: Path
    source: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


class ArtifactCache:
    def __init__(self, root: Path, keep: int = 8,
                 protected: Callable[[], Iterable[Key] | None] = lambda: ()):
        self.root = Path(root)
        self.keep = keep
        self._protected = protected
        self._lock = threading.Lock()
        self._holders: Counter[Key] = Counter()

    def folder(self, name: str, version: str) -> Path:
        return self.root / _safe(name) / _safe(version)

    def find(self, name: str, version: str) -> CachedVersion | None:
        """The complete cached version, or None (absent, partial or unreadable)."""
        folder = self.folder(name, version)
        if not (folder / MARKER).is_file():
            return None
        try:
            ref = json.loads((folder / REF_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return CachedVersion(name, version, folder / ref.get("model_path", "model"),
                             ref.get("source"), ref.get("run_id"), dict(ref.get("tags") or {}))

    def open(self, name: str, version: str) -> tuple[CachedVersion, Callable[[], None]] | None:
        """The cached version held against eviction until the returned release is called."""
        with self._lock:
            found = self.find(name, version)
            if found is None:
                return None
            key = (name, version)
            self._holders[key] += 1
            _mark_used(self.folder(name, version))
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._holders[key] -= 1
                    if self._holders[key] <= 0:
                        del self._holders[key]

        return found, release

    def store(self, name: str, version: str, download: Callable[[Path], Path],
              reference: dict) -> CachedVersion:
        """Download a version with `download(dst)` (it returns the folder holding `MLmodel`)
        and commit it; a version another loader committed meanwhile is kept as it is."""
        parent = self.root / _safe(name)
        parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}{_safe(version)}-", dir=parent))
        try:
            model_dir = Path(download(partial / "model")).resolve()
            ref = {**reference, "name": name, "version": version,
                   "model_path": str(model_dir.relative_to(partial.resolve())),
                   "downloaded_at": time.time()}
            (partial / REF_FILE).write_text(json.dumps(ref, indent=2, sort_keys=True),
                                            encoding="utf-8")
            _mark_used(partial)
            _fsync_tree(partial)
            (partial / MARKER).write_text(f"{name}/{version}\n", encoding="utf-8")
            _fsync(partial / MARKER)
            final = self.folder(name, version)
            with self._lock:
                if self.find(name, version) is None:
                    if final.exists():  # an incomplete leftover under the final name
                        shutil.rmtree(final)
                    os.rename(partial, final)
                    _fsync(parent)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        found = self.find(name, version)
        if found is None:
            raise OSError(f"the artifact cache could not keep {name}/{version} in {parent}")
        return found

    def update_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Newer tags read from the registry (an alias load) replace the cached ones."""
        folder = self.folder(name, version)
        with self._lock:
            try:
                ref = json.loads((folder / REF_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return
            if ref.get("tags") == tags:
                return
            ref["tags"] = tags
            fd, tmp = tempfile.mkstemp(prefix=".ref-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(ref, indent=2, sort_keys=True))
            os.replace(tmp, folder / REF_FILE)

    def versions(self) -> list[tuple[Key, float]]:
        """Complete versions on disk with their last use (epoch s), most recent first."""
        found = []
        for marker in self.root.glob(f"*/*/{MARKER}"):
            folder = marker.parent
            if folder.name.startswith(PARTIAL):
                continue
            try:
                ref = json.loads((folder / REF_FILE).read_text(encoding="utf-8"))
                used = (folder / LAST_USED).stat().st_mtime
            except (OSError, ValueError):
                continue
            found.append(((str(ref.get("name")), str(ref.get("version"))), used))
        return sorted(found, key=lambda item: item[1], reverse=True)

    def trim(self) -> list[Key]:
        """Delete what the bound does not keep; returns the deleted versions."""
        protected = self._protected()
        if protected is None:
            return []
        deleted = []
        with self._lock:
            keep = set(self._holders) | set(protected)
            recent = self.versions()
            keep |= {key for key, _ in recent[:self.keep]}
            for key, _ in recent:
                if key not in keep:
                    folder = self.folder(*key)
                    (folder / MARKER).unlink(missing_ok=True)  # no longer whole, first
                    shutil.rmtree(folder, ignore_errors=True)
                    deleted.append(key)
        self._sweep_partials()
        return deleted

    def _sweep_partials(self) -> None:
        cutoff = time.time() - STALE_PARTIAL_SECONDS
        for partial in self.root.glob(f"*/{PARTIAL}*"):
            try:
                if partial.stat().st_mtime < cutoff:
                    shutil.rmtree(partial, ignore_errors=True)
            except OSError:
                continue
