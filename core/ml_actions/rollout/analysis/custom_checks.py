"""User-defined canary checks: PromQL in ml-actions.yaml, like Flagger's metric templates.

The query is a Jinja2 template with `{{ slot }}`, `{{ model_version }}` and `{{ window }}`
(the time since the step's weight took effect); its single value must lie in [min, max].
Three guards keep a user's query from deciding on noise: a sample floor (`sample_query`, by
default the slot's requests in the window, must reach `min_samples`, else inconclusive), a
failure threshold (`failure_threshold` failing looks in a row before the check fails), and no
data is never a pass. A `stable` check is read over the window that ends at the step's start,
the stable baseline, because at 100 % the stable slot serves nothing.
"""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ml_actions.config.durations import promql_duration
from ml_actions.config.rollout import CustomCheck
from ml_actions.errors import ConfigurationError
from ml_actions.rollout.analysis.evidence import AnalysisCheck
from ml_actions.rollout.analysis.prometheus_reader import REQUESTS, PrometheusReader, selector

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


def default_sample_query(slot: str, model_version: str | None, window: str) -> str:
    return f"sum(increase({REQUESTS}{selector(slot, model_version)}[{window}]))"


def verdict_for(check: CustomCheck, value: float | None, samples: float | None) -> tuple[str, str]:
    """(verdict, message) of one look at a custom check's value against its range."""
    if value is None:
        return "inconclusive", "the query returned no data"
    if samples is None or samples < check.min_samples:
        return "inconclusive", (f"{0 if samples is None else int(samples)} samples, "
                                f"{check.min_samples} needed")
    if check.min is not None and value < check.min:
        return "fail", f"{value:.6g} is below the minimum {check.min:g}"
    if check.max is not None and value > check.max:
        return "fail", f"{value:.6g} is above the maximum {check.max:g}"
    return "pass", "within range"


class CustomChecks:
    """Evaluates the configured custom checks and counts their failing looks per step."""

    def __init__(self, reader: PrometheusReader, checks: list[CustomCheck]):
        self.reader, self.checks = reader, checks
        self.failing_looks: dict[str, int] = {}

    def start_step(self) -> None:
        self.failing_looks = {}

    def evaluate(self, canary_version: str, stable_version: str | None, since: float,
                 at: float) -> list[AnalysisCheck]:
        return [self._one(c, canary_version, stable_version, since, at) for c in self.checks]

    def _one(self, check: CustomCheck, canary_version: str, stable_version: str | None,
             since: float, at: float) -> AnalysisCheck:
        if check.slot == "canary":
            version, when = canary_version, at
        else:  # the stable baseline: the window that ends where this step's data begins
            version, when = stable_version, since
        window = promql_duration(max(at - since, 1.0))
        query = render_query(check, check.query, check.slot, version, window)
        value = self.reader.scalar(query, when)
        sample_query = (render_query(check, check.sample_query, check.slot, version, window)
                        if check.sample_query else
                        default_sample_query(check.slot, version, window))
        samples = self.reader.scalar(sample_query, when)
        verdict, message = verdict_for(check, value, samples)
        if verdict == "fail":
            looks = self.failing_looks.get(check.name, 0) + 1
            self.failing_looks[check.name] = looks
            if looks < check.failure_threshold:
                verdict = "inconclusive"
                message += f" (failing look {looks} of {check.failure_threshold} in a row)"
        else:
            self.failing_looks[check.name] = 0
        bound = check.max if check.max is not None else check.min
        comparison = "in" if check.min is not None and check.max is not None else (
            "<=" if check.max is not None else ">=")
        return AnalysisCheck(check.name, verdict, value, bound, comparison,
                             None if samples is None else int(samples), check.min_samples,
                             query=query, message=message)
