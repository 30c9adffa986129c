"""The rollout's dead man's switch in the gateway: a lapsed lease takes the canary out of
traffic by itself, also across a restart, and a released lease never does."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from tests.serving.gateway_client import metric_value
from tests.serving.test_shadow_inprocess import AUTH, load, loader, make_client, wait_until

pytestmark = pytest.mark.integration
__all__ = ["loader"]  # the module fixture, shared


def canary_weight(client: TestClient) -> float:
    return client.get("/admin/state", headers=AUTH).json()["canary_weight"]


def with_canary(client: TestClient, weight: float = 30.0) -> None:
    load(client, "stable", "1")
    load(client, "canary", "2")
    assert client.put("/admin/traffic", headers=AUTH,
                      json={"canary_weight": weight}).status_code == 200


def test_a_lapsed_lease_sets_the_canary_weight_to_zero(tmp_path, loader):
    with make_client(tmp_path / "state", loader) as client:
        with_canary(client)
        renewed = client.put("/admin/lease", headers=AUTH,
                             json={"seconds": 1.0, "holder": "run 42"})
        assert renewed.status_code == 200 and renewed.json()["lease_until"] > time.time()
        time.sleep(0.6)  # renewals keep it: the rollout is alive
        client.put("/admin/lease", headers=AUTH, json={"seconds": 1.0, "holder": "run 42"})
        time.sleep(0.6)
        assert canary_weight(client) == 30.0
        assert wait_until(lambda: canary_weight(client) == 0.0, timeout=10)  # runner "died"
        state = client.get("/admin/state", headers=AUTH).json()
        assert state["slots"]["stable"]["model_version"] == "1"  # stable serves everything
        assert state["slots"]["canary"]["model_version"] == "2"  # kept, for the post-mortem
        expired = [h for h in state["history"] if h["action"] == "lease_expired"]
        assert expired and expired[-1]["holder"] == "run 42"
        assert expired[-1]["canary_weight_was"] == 30.0
        assert metric_value(client.get("/metrics").text, "ml_gateway_lease_expired_total") == 1


def test_a_released_lease_never_fires_and_bad_leases_are_refused(tmp_path, loader):
    with make_client(tmp_path / "state", loader) as client:
        with_canary(client, 100.0)
        for bad in (0, -1, "5", True, 10**6):
            response = client.put("/admin/lease", headers=AUTH, json={"seconds": bad})
            assert response.status_code == 400 and "seconds" in response.json()["message"]
        assert client.put("/admin/lease", json={"seconds": 5}).status_code == 401
        client.put("/admin/lease", headers=AUTH, json={"seconds": 0.5, "holder": "run 7"})
        assert client.delete("/admin/lease", headers=AUTH).status_code == 200
        time.sleep(1.2)
        assert canary_weight(client) == 100.0  # the rollout ended: nothing to take back


def test_a_gateway_restarted_after_the_lease_lapsed_does_not_restore_canary_traffic(
        tmp_path, loader):
    state_dir = tmp_path / "state"
    with make_client(state_dir, loader) as client:
        with_canary(client, 25.0)
        client.put("/admin/lease", headers=AUTH, json={"seconds": 1.0, "holder": "run 9"})
    time.sleep(1.5)  # the gateway was down while the lease ran out
    with make_client(state_dir, loader) as client:
        assert wait_until(lambda: canary_weight(client) == 0.0, timeout=10)
        history = client.get("/admin/state", headers=AUTH).json()["history"]
        assert history[-1]["action"] == "lease_expired" or any(
            h["action"] == "lease_expired" for h in history[-3:])


class _Recorded:
    """The parts of a SlotManager the lease touches, recording what it does."""

    def __init__(self, until: float):
        from types import SimpleNamespace

        self.state = SimpleNamespace(lease_until=until, lease_holder="run 7", canary_weight=20.0)
        self.history: list[str] = []
        self.store = SimpleNamespace(record=lambda state, by, action, extra:
                                     self.history.append(action), save=lambda state: None)
        self.metrics = SimpleNamespace(lease_expired=SimpleNamespace(inc=lambda: None))

    def set_weight(self, weight: float, actor: str) -> None:
        self.state.canary_weight = weight


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_timer_that_fires_before_the_deadline_waits_for_it_instead_of_giving_up(loop):
    """uvloop's millisecond timers can fire a hair before the wall-clock deadline; the lease
    must then wait out the rest, not stay armed forever (the e2e kill -9 test caught it)."""
    import asyncio

    import uvloop

    from ml_actions.serving.canary_lease import CanaryLease

    manager = _Recorded(time.time() + 0.3)

    async def early_fire_then_wait() -> None:
        lease = CanaryLease(manager)  # type: ignore[arg-type]
        lease.restore(manager.state)  # arms the saved deadline, as at a gateway's start
        lease._timer.fire()  # the loop's timer, firing 0.3 s before the deadline
        assert manager.state.canary_weight == 20.0 and manager.history == []
        await asyncio.sleep(0.6)
        lease.close()

    (uvloop.run if loop == "uvloop" else asyncio.run)(early_fire_then_wait())
    assert manager.state.canary_weight == 0.0 and manager.history == ["lease_expired"]
