"""Where a served model's files come from: the artifact cache first, else MLflow, with retries.

Why: a gateway restarted while MLflow was down used to answer 503 until someone loaded its
models again. Now a concrete version (`models:/name/7`: what the state file records for each
slot, whatever URI was asked for) that was downloaded once is loaded from the artifact cache
without asking MLflow at all; its tags are those read at the download (a load by alias, which
must ask the registry anyway, refreshes them). What needs MLflow (resolving an alias or a
version not cached yet, the download) is retried with exponential backoff:
`gateway.load_attempts` attempts, waiting `load_backoff_seconds` and doubling up to
`load_max_backoff_seconds`, each retry logged. Only a registry that does not answer is
retried, never an answer such as "no such version". An alias cannot be resolved without the
registry, so that load fails saying so and what to load instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ml_actions.config.gateway import GatewayConfig
from ml_actions.errors import InfrastructureError, RegistryError, first_line
from ml_actions.registry import TRANSIENT_CODES, ModelVersionRef, _is_connection_error
from ml_actions.serving.artifact_cache import ArtifactCache, CachedVersion
from ml_actions.serving.model_loading import ModelRef, parse_model_uri

log = logging.getLogger("ml_actions.gateway")
T = TypeVar("T")
Resolver = Callable[[str, str], ModelVersionRef]  # (name, "7" | "@alias") -> the version
Downloader = Callable[[str, Path], Path]  # (models:/name/7, destination) -> MLmodel folder


class RegistryUnavailable(InfrastructureError):
    """MLflow did not answer within the gateway's retry policy."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0

    @classmethod
    def of(cls, config: GatewayConfig) -> RetryPolicy:
        return cls(config.load_attempts, config.load_backoff_seconds,
                   config.load_max_backoff_seconds)

    def wait_after(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (failures - 1))


def unreachable(err: BaseException) -> bool:
    """True when `err` says MLflow did not answer (worth a retry), not that it said no."""
    if isinstance(err, RegistryError):
        return False
    if isinstance(err, (InfrastructureError, OSError)):  # requests' errors are OSErrors
        return True
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and (err.error_code in TRANSIENT_CODES
                                                 or _is_connection_error(err))


def with_retries(what: str, call: Callable[[], T], policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried while MLflow does not answer; `RegistryUnavailable` when it never
    did. `what` says what was being done, in the log and in the error."""
    failures = 0
    while True:
        try:
            return call()
        except Exception as err:
            if not unreachable(err):
                raise
            failures += 1
            reason = first_line(err, 200)
            if failures >= policy.attempts:
                raise RegistryUnavailable(
                    f"MLflow did not answer {failures} attempt(s) to {what} (last error: "
                    f"{reason})") from err
            wait = policy.wait_after(failures)
            log.warning("%s: MLflow did not answer (attempt %d of %d: %s); retrying in %.1f s",
                        what, failures, policy.attempts, reason, wait)
            sleep(wait)


@dataclass(frozen=True)
class LocalVersion:
    """A version's files on disk, held in the cache until `release()`."""

    ref: ModelRef
    model_dir: Path
    release: Callable[[], None]
    from_cache: bool


def version_number(reference: str) -> str | None:
    """`7` or `v7` -> `7`; an alias (`@champion`, or a bare name) -> None."""
    bare = reference[1:] if reference[:1] in ("v", "V") else reference
    return bare if bare.isdigit() else None


class ModelSource:
    def __init__(self, resolve: Resolver, download: Downloader, cache: ArtifactCache,
                 policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep):
        self.resolve = resolve
        self.download = download
        self.cache = cache
        self.policy = policy
        self.sleep = sleep

    def fetch(self, uri: str) -> LocalVersion:
        """The files of `uri`'s version: cached, else resolved and downloaded into the cache."""
        name, reference = parse_model_uri(uri)
        number = version_number(reference)
        held = self.cache.open(name, number) if number is not None else None
        if held is not None:
            log.info("%s: loading from the artifact cache (%s), without MLflow", uri,
                     held[0].model_dir)
            return _local(held, held[0].tags, from_cache=True)
        found = self._resolve(uri, name, reference, number)
        tags = dict(found.tags or {})
        held = self.cache.open(found.name, found.version)
        if held is not None:
            self.cache.update_tags(found.name, found.version, tags)
            return _local(held, tags, from_cache=True)
        details = {"source": found.source, "run_id": found.run_id, "tags": tags,
                   "requested_uri": uri}
        with_retries(f"download {found.uri}", lambda: self.cache.store(
            found.name, found.version, lambda dst: self.download(found.uri, dst), details),
            self.policy, self.sleep)
        held = self.cache.open(found.name, found.version)
        if held is None:
            raise OSError(f"{found.uri} was downloaded but is not in the artifact cache "
                          f"{self.cache.root}")
        try:
            self.cache.trim()
        except OSError as err:  # a full or read-only disk must not fail the load
            log.warning("could not trim the artifact cache %s: %s", self.cache.root, err)
        return _local(held, tags, from_cache=False)

    def _resolve(self, uri: str, name: str, reference: str,
                 number: str | None) -> ModelVersionRef:
        try:
            return with_retries(f"resolve {uri}", lambda: self.resolve(name, reference),
                                self.policy, self.sleep)
        except RegistryUnavailable as err:
            if number is None:
                raise RegistryUnavailable(
                    f"cannot load {uri}: an alias is resolved by the registry, and {err}. "
                    f"Load a concrete version (models:/{name}/<version>) instead: one "
                    "downloaded before is served from the artifact cache") from err
            raise RegistryUnavailable(f"cannot load {uri}: it is not in the artifact cache "
                                      f"({self.cache.root}) and {err}") from err


def _local(held: tuple[CachedVersion, Callable[[], None]], tags: dict[str, str],
           from_cache: bool) -> LocalVersion:
    cached, release = held
    return LocalVersion(ModelRef(cached.name, cached.version, tags), cached.model_dir, release,
                        from_cache)
