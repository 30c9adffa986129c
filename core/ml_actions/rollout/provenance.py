"""Deploy what was validated: the candidate's gate verdict must be about this deployment.

`validation.status=passed` says a gate passed, not which gate. A version validated against
staging's bars, under a different gate config (a PR's own file, inline `--thresholds`), or
against a champion that has since been replaced, was never judged for what it is about to
replace. validate-model records those three facts on the version (`validation.environment`,
`validation.gate_digest`, `validation.champion_version`); canary-deploy compares them with
its own and refuses any mismatch before traffic moves, with one line naming it and the fix.

A version whose tags predate these facts (validated by hand or by an older ml-actions) is
deployed with a warning and recorded as `rollout.validation_check=passed-unverified`.
"""

from __future__ import annotations

from ml_actions.config.settings import Config
from ml_actions.errors import InputError
from ml_actions.registry import ModelVersionRef, Registry

ENVIRONMENT_TAG = "validation.environment"
GATE_DIGEST_TAG = "validation.gate_digest"
CHAMPION_TAG = "validation.champion_version"
NO_CHAMPION = "none"


def check_provenance(registry: Registry, config: Config, candidate: ModelVersionRef) -> bool:
    """True when every fact was recorded and matches; False when some were never recorded.

    Raises InputError (exit 2) on a mismatch."""
    tags = candidate.tags
    name, version = candidate.name, candidate.version
    rerun = (f"run validate-model on v{version} with --environment {config.environment} and "
             "the deploy's config, then deploy again")
    environment = tags.get(ENVIRONMENT_TAG)
    if environment is not None and environment != config.environment:
        raise InputError(f"v{version} of {name!r} was validated for {environment!r}, not for "
                         f"{config.environment!r} where it would deploy; {rerun}")
    digest = tags.get(GATE_DIGEST_TAG)
    if digest is not None and digest != config.gate_digest():
        raise InputError(f"v{version} of {name!r} was validated under another gate config "
                         f"(digest {digest}, the deploy's is {config.gate_digest()}: other "
                         f"thresholds or comparison settings); {rerun}")
    compared = tags.get(CHAMPION_TAG)
    if compared is not None:
        current = registry.find_alias(name, config.registry.champion_alias)
        now = current.version if current is not None else NO_CHAMPION
        if compared != now:
            against = "no champion" if compared == NO_CHAMPION else f"champion v{compared}"
            raise InputError(f"v{version} of {name!r} was validated against {against}, but "
                             f"@{config.registry.champion_alias} is now "
                             f"{'unset' if now == NO_CHAMPION else 'v' + now}; run "
                             f"validate-model on v{version} again to compare it with today's "
                             "champion")
    return None not in (environment, digest, compared)
