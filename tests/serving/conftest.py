"""Fixtures of the gateway tests: real registered models and the gateway subprocess."""

from __future__ import annotations

import pytest

from tests.fixtures.gateway import gateway_factory, start_gateway, wait_ready  # noqa: F401

TOKEN = "test-admin-token-4f1c"
MODEL = "gw_fraud"


@pytest.fixture(scope="session")
def gw_models(tracking_uri) -> dict[str, str]:
    """gw_fraud v1, v2 (scikit-learn), v3 (raises on negative amounts), v4 (slow)."""
    from tests.serving import model_zoo

    return {
        "v1": model_zoo.register_sklearn(tracking_uri, MODEL, seed=0),
        "v2": model_zoo.register_sklearn(tracking_uri, MODEL, seed=1, c=0.01),
        "raising": model_zoo.register_raising(tracking_uri, MODEL),
        "slow": model_zoo.register_slow(tracking_uri, MODEL, seconds=2.0),
    }
