"""User-defined canary checks: PromQL in ml-actions.yaml, like Flagger's metric templates.

The query is a Jinja2 template with `{{ slot }}`, `{{ model_version }}` and `{{ window }}`;
its single value must lie in [min, max]. An optional `sample_query` gives the number of
observations behind the value; below `min_samples` the check is inconclusive, and a query
that returns nothing is inconclusive too (no data is never a pass).
"""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ml_actions.config.rollout import CustomCheck
from ml_actions.errors import ConfigurationError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render_query(check: CustomCheck, template: str, slot: str, model_version: str | None,
                 window: str) -> str:
    """The PromQL of `template` for one slot, version and window."""
    try:
        return _ENV.from_string(template).render(slot=slot, model_version=model_version or "",
                                                 window=window)
    except TemplateError as err:
        raise ConfigurationError(
            f"analysis.custom_checks[{check.name}]: the query template does not render ({err}); "
            "the variables are slot, model_version and window"
        ) from None


def verdict_for(check: CustomCheck, value: float | None, samples: float | None) -> tuple[str, str]:
    """(verdict, message) of a custom check's value against its range."""
    if value is None:
        return "inconclusive", "the query returned no data"
    if check.sample_query and (samples is None or samples < check.min_samples):
        return "inconclusive", (f"{0 if samples is None else int(samples)} samples, "
                                f"{check.min_samples} needed")
    if check.min is not None and value < check.min:
        return "fail", f"{value:.6g} is below the minimum {check.min:g}"
    if check.max is not None and value > check.max:
        return "fail", f"{value:.6g} is above the maximum {check.max:g}"
    return "pass", "within range"
