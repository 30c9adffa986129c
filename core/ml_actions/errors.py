"""Error types that separate the user's mistakes from our bugs.

Anything derived from `MlActionsError` is something the user can fix (an input, a config key,
a service they pointed us at); the CLI prints its message on one line and exits 2. Any other
exception is a bug in ml-actions and is reported as such.
"""

from __future__ import annotations


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an error's message, or its type when it has none.

    Spark and Py4J errors carry whole Java stack traces; a one-line message keeps only this.
    """
    line = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), "")
    return line[:limit] if line else type(err).__name__


class MlActionsError(Exception):
    """A failure the user can act on; `str(err)` says what is wrong and how to fix it."""

    exit_code = 2
    kind = "error"


class ConfigurationError(MlActionsError):
    """ml-actions.yaml or an inline override is invalid."""

    kind = "configuration error"


class InputError(MlActionsError):
    """A command input (flag, `INPUT_*` variable) is missing or malformed."""

    kind = "input error"


class DataError(MlActionsError):
    """The data we were given cannot be used (missing, empty, wrong schema, bad labels)."""

    kind = "data error"


class RegistryError(MlActionsError):
    """The model, version or alias does not exist, or the registry refused the request."""

    kind = "registry error"


class Cancelled(MlActionsError):
    """The job was cancelled (SIGTERM, Ctrl-C): whatever was under way is made safe first."""

    kind = "cancelled"
    exit_code = 130


class InfrastructureError(MlActionsError):
    """A service we depend on (MLflow, Spark, Prometheus, the gateway) is unreachable."""

    kind = "infrastructure error"
