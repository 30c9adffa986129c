"""The MLflow Model Registry as ml-actions uses it: versions, aliases and tags.

Registry *stages* are deprecated since MLflow 2.9 and are never used: the champion is the
version behind the `@champion` alias, a rollout's state lives in version tags. Transient HTTP
failures are retried with exponential backoff; everything the user can get wrong (unknown
model, version or alias) raises `RegistryError` with the names that do exist.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from ml_actions.errors import InfrastructureError, InputError, RegistryError, first_line
from ml_actions.redaction import redact

T = TypeVar("T")

# Tracking URI schemes MLflow's client accepts (a folder or `file:` is the file store, apart).
TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks",
                    "databricks-uc", "uc")
TRACKING_URI_SOURCE = "--tracking-uri (or $MLFLOW_TRACKING_URI)"
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):\d+(/.*)?$")
# Codes MLflow's REST layer uses for failures worth a retry.
TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED",
                   "DEADLINE_EXCEEDED"}


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered model version, as resolved from a number or an alias."""

    name: str
    version: str
    run_id: str | None = None
    source: str | None = None
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _configure_mlflow_http() -> None:
    # MLflow's own client retries 7 times with long backoff; we retry ourselves, boundedly.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


def usable_tracking_uri(uri: str | None, source: str = TRACKING_URI_SOURCE) -> str:
    """`uri` when MLflow's client can use it; otherwise an `InputError` saying what to pass.

    Checked before any client exists because MLflow's own errors for these mistakes point
    elsewhere: no URI at all makes it fall back to `./mlruns`, whose file store MLflow 3
    refuses ("FileStore is in maintenance mode"), and `127.0.0.1:5000` parses as a path or as
    an unknown scheme named after the host.
    """
    text = (uri or "").strip()
    example = "e.g. http://127.0.0.1:5000 for a local `mlflow server`"
    if not text:
        raise InputError(f"no MLflow tracking URI: pass {source}, {example}")
    if _HOST_PORT.match(text):
        raise InputError(f"{source}: {text!r} has no scheme; write http://{text} (or "
                         f"https://{text})")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in TRACKING_SCHEMES or (scheme == "" and text in ("databricks", "databricks-uc")):
        return text
    if scheme in ("", "file"):  # a local folder: MLflow's file store
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1"):
            return text
        raise InputError(
            f"{source}: {text!r} is a local folder (MLflow's file store), which MLflow 3 "
            f"refuses; pass a server URL ({example}) or a database such as "
            "sqlite:///mlflow.db, or set MLFLOW_ALLOW_FILE_STORE=true")
    raise InputError(f"{source}: {text!r} has the scheme {scheme!r}, which MLflow does not "
                     f"support; use one of {', '.join(TRACKING_SCHEMES)} ({example})")


class Registry:
    """A thin, retrying wrapper over `MlflowClient` for one tracking server."""

    def __init__(self, tracking_uri: str | None = None, retries: int = 4,
                 backoff_seconds: float = 0.5):
        self.tracking_uri = usable_tracking_uri(
            tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
        self.shown_uri = redact(str(self.tracking_uri))  # for messages: never its credentials
        _configure_mlflow_http()
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri,
                                   registry_uri=self.tracking_uri)
        self.retries = retries
        self.backoff_seconds = backoff_seconds

    # -- plumbing --------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one registry call, retrying transient failures; `what` names it in errors."""
        from mlflow.exceptions import MlflowException

        attempt = 0
        while True:
            try:
                return fn()
            except MlflowException as err:
                transient = err.error_code in TRANSIENT_CODES or _is_connection_error(err)
                if not transient:
                    raise
                last: Exception = err
            except OSError as err:  # requests' ConnectionError is an OSError
                last = err
            if attempt >= self.retries:
                raise InfrastructureError(
                    f"MLflow at {self.shown_uri} did not answer while trying to {what} "
                    f"(after {attempt + 1} attempts: {first_line(last, 200)}); check "
                    "--tracking-uri / MLFLOW_TRACKING_URI and that the server is running"
                ) from last
            time.sleep(self.backoff_seconds * (2 ** attempt))
            attempt += 1

    # -- reading ---------------------------------------------------------------------------
    def get_model(self, name: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.call(f"read model {name!r}", lambda: self.client.get_registered_model(name))
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise RegistryError(
                    f"registered model {name!r} not found at {self.shown_uri}; check "
                    "--model-name, or register a version first (the template's train step does)"
                ) from None
            raise

    def resolve(self, name: str, reference: str) -> ModelVersionRef:
        """A version given as `3`, `v3`, `@alias` or `alias`."""
        from mlflow.exceptions import MlflowException

        model = self.get_model(name)
        aliases = dict(model.aliases or {})
        ref = str(reference).strip()
        if not ref:
            raise RegistryError(f"empty model version for {name!r}; pass a number or @alias")
        bare = ref[1:] if ref.lower().startswith("v") and ref[1:].isdigit() else ref
        if bare.isdigit():
            try:
                mv = self.call(f"read version {bare} of {name!r}",
                               lambda: self.client.get_model_version(name, bare))
            except MlflowException as err:
                if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    versions = self.version_numbers(name)
                    raise RegistryError(
                        f"version {bare} of model {name!r} does not exist; existing versions: "
                        f"{', '.join(versions) or 'none'}"
                    ) from None
                raise
            return self._ref(mv)
        alias = ref.lstrip("@")
        if alias not in aliases:
            known = ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
            raise RegistryError(
                f"alias @{alias} is not set on model {name!r}; aliases set: {known}"
            )
        mv = self.call(f"read alias @{alias} of {name!r}",
                       lambda: self.client.get_model_version_by_alias(name, alias))
        return self._ref(mv)

    def find_alias(self, name: str, alias: str) -> ModelVersionRef | None:
        """The version behind an alias, or None (e.g. no champion before the first deploy)."""
        model = self.get_model(name)
        if alias not in (model.aliases or {}):
            return None
        return self.resolve(name, f"@{alias}")

    def find_champion(self, name: str, alias: str, role_aliases: Iterable[str] = ()
                      ) -> ModelVersionRef | None:
        """The version behind the champion `alias`; None only on a true first deployment.

        A first deployment is a model whose aliases are all `role_aliases`, the ones a pipeline
        sets before anything was promoted (challenger, validated, canary). Any other alias
        means a production model exists under some name, so an unset `alias` is a typo that
        would silently skip every comparison with it: that raises, listing the aliases set.
        """
        aliases = dict(self.get_model(name).aliases or {})
        if alias in aliases:
            return self.resolve(name, f"@{alias}")
        roles = set(role_aliases)
        if all(a in roles for a in aliases):
            return None
        known = ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items()))
        raise RegistryError(
            f"champion alias @{alias} is not set on model {name!r}, whose aliases are {known}: "
            "pass --champion-alias with the alias of the production model (a first deployment "
            f"has only {', '.join(f'@{r}' for r in sorted(roles)) or 'no aliases'})")

    def version_numbers(self, name: str) -> list[str]:
        found = self.call(f"list versions of {name!r}",
                          lambda: self.client.search_model_versions(f"name='{name}'"))
        return sorted((mv.version for mv in found), key=int)

    def get_tags(self, name: str, version: str) -> dict[str, str]:
        mv = self.call(f"read tags of {name!r} v{version}",
                       lambda: self.client.get_model_version(name, version))
        return dict(mv.tags or {})

    # -- writing ---------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.call(f"set alias @{alias} on {name!r} v{version}",
                  lambda: self.client.set_registered_model_alias(name, alias, str(version)))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; removing one that is not set is not an error."""
        if alias in (self.get_model(name).aliases or {}):
            self.call(f"delete alias @{alias} of {name!r}",
                      lambda: self.client.delete_registered_model_alias(name, alias))

    def set_tags(self, name: str, version: str, tags: dict[str, object]) -> None:
        for key, value in tags.items():
            text = "" if value is None else redact(str(value))
            self.call(f"tag {name!r} v{version} with {key}",
                      lambda k=key, t=text: self.client.set_model_version_tag(name, version, k, t))

    def delete_tag(self, name: str, version: str, key: str) -> None:
        if key in self.get_tags(name, version):
            self.call(f"delete tag {key} of {name!r} v{version}",
                      lambda: self.client.delete_model_version_tag(name, version, key))

    # -- registered models as compare-and-set cells (the rollout lock) ----------------------
    def create_model_if_absent(self, name: str, tags: dict[str, str], description: str = ""
                               ) -> bool:
        """Create registered model `name` with its `tags` in one call; False when it exists.

        The one compare-and-set MLflow's registry has (tags and aliases have none): names are
        unique in its database, so of concurrent creations exactly one succeeds. A retry whose
        first attempt did succeed also answers False: callers compare the tags they read back.
        """
        def create() -> bool:
            self.client.create_registered_model(name, tags=tags, description=description)
            return True

        return self._unless("RESOURCE_ALREADY_EXISTS", False, f"create model {name!r}", create)

    def model_tags_if_present(self, name: str) -> tuple[dict[str, str], int] | None:
        """A registered model's tags and creation time (epoch ms), or None when absent."""
        model = self._unless("RESOURCE_DOES_NOT_EXIST", None, f"read model {name!r}",
                             lambda: self.client.get_registered_model(name))
        return None if model is None else (dict(model.tags or {}),
                                           int(model.creation_timestamp or 0))

    def delete_model_if_present(self, name: str) -> bool:
        """Delete registered model `name` (and its versions); False when it did not exist."""
        return self._unless("RESOURCE_DOES_NOT_EXIST", False, f"delete model {name!r}",
                            lambda: self.client.delete_registered_model(name) or True)

    def version_tags_if_present(self, name: str, version: str) -> dict[str, str] | None:
        """A version's tags, or None when the version (or its model) no longer exists."""
        mv = self._unless("RESOURCE_DOES_NOT_EXIST", None, f"read tags of {name!r} v{version}",
                          lambda: self.client.get_model_version(name, version))
        return None if mv is None else dict(mv.tags or {})

    def _unless(self, code: str, answer, what: str, fn: Callable[[], T]):
        """`fn()` through `call`, or `answer` when MLflow refuses it with error `code`."""
        from mlflow.exceptions import MlflowException

        try:
            return self.call(what, fn)
        except MlflowException as err:
            if err.error_code == code:
                return answer
            raise

    @staticmethod
    def _ref(mv) -> ModelVersionRef:
        return ModelVersionRef(
            name=mv.name, version=str(mv.version), run_id=mv.run_id, source=mv.source,
            aliases=tuple(getattr(mv, "aliases", ()) or ()), tags=dict(mv.tags or {}),
        )


def _is_connection_error(err: Exception) -> bool:
    text = str(err)
    return any(s in text for s in ("Max retries exceeded", "Connection refused",
                                   "ConnectionError", "Failed to establish"))


def registry_from_config(tracking_uri: str | None, config) -> Registry:
    """A Registry with the retry policy from `RegistryConfig`."""
    return Registry(tracking_uri=tracking_uri, retries=config.retries,
                    backoff_seconds=config.backoff_seconds)
