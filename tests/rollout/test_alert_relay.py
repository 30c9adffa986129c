"""The alert relay's webhook contract: auth, which alerts roll back, dedup, recording."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from ml_actions.config.rollout import AlertRelayConfig
from ml_actions.errors import InputError
from ml_actions.rollout.alert_relay import AlertRelay, build_app, github_dispatcher
from ml_actions.rollout.rollback import RollbackResult
from tests.fixtures.github_server import FakeGitHub

TOKEN = "relay-token-1"


def alert(name="MlGatewayHighErrorRate", status="firing", rollback="true", fp="f1", **labels):
    return {"status": status, "fingerprint": fp,
            "labels": {"alertname": name, "ml_actions_rollback": rollback, **labels},
            "annotations": {"summary": "stable v3 fails 30% of requests"}}


class Recorder:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def __call__(self, model: str, reason: str) -> RollbackResult:
        self.calls.append((model, reason))
        if self.fail:
            raise InputError("nothing to roll back")
        return RollbackResult("previous_restored", "2", "3", reason, 0.01)


def post(relay, payload, token=TOKEN):
    with TestClient(build_app(relay)) as client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post("/webhook", json=payload, headers=headers), \
            client.get("/incidents", headers=headers)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_webhook_without_the_bearer_token_is_refused(token):
    rollback = Recorder()
    relay = AlertRelay(AlertRelayConfig(), TOKEN, rollback, default_model="m")
    response, incidents = post(relay, {"alerts": [alert()]}, token=token)
    assert response.status_code == 401 and incidents.status_code == 401
    assert rollback.calls == []


def test_only_firing_rollback_alerts_roll_back_once(tmp_path):
    rollback = Recorder()
    record = tmp_path / "incidents.jsonl"
    relay = AlertRelay(AlertRelayConfig(), TOKEN, rollback, default_model="fraud",
                       record_path=record)
    payload = {"alerts": [alert(), alert(status="resolved", fp="f2"),
                          alert(rollback="false", fp="f3"), alert(fp="f4", model_name="other")]}
    response, incidents = post(relay, payload)
    assert response.status_code == 200
    assert [c[0] for c in rollback.calls] == ["fraud", "other"]
    assert "MlGatewayHighErrorRate" in rollback.calls[0][1] and "30%" in rollback.calls[0][1]
    again, _ = post(relay, {"alerts": [alert()]})  # Alertmanager re-sends the group
    assert again.json()["handled"][0]["action"] == "duplicate" and len(rollback.calls) == 2
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["rolled_back", "rolled_back", "duplicate"]
    assert lines[0]["rollback"]["restored_version"] == "2"
    assert len(incidents.json()["incidents"]) == 2


def test_failed_rollback_is_recorded_and_answered():
    relay = AlertRelay(AlertRelayConfig(), TOKEN, Recorder(fail=True), default_model="m")
    response, _ = post(relay, {"alerts": [alert()]})
    handled = response.json()["handled"][0]
    assert handled["action"] == "failed" and "nothing to roll back" in handled["error"]
    bad, _ = post(relay, ["not", "a", "webhook"])
    assert bad.status_code == 400


def test_repository_dispatch_is_sent_and_its_failure_tolerated():
    fake = FakeGitHub().start()
    try:
        dispatch = github_dispatcher("gh-token", "acme/fraud", fake.base_url,
                                     "ml-actions-rollback")
        relay = AlertRelay(AlertRelayConfig(), TOKEN, Recorder(), default_model="m",
                           dispatch=dispatch)
        response, _ = post(relay, {"alerts": [alert()]})
        handled = response.json()["handled"][0]
        assert handled["action"] == "rolled_back" and handled["dispatched"] is True
        assert fake.state.dispatches[0]["event_type"] == "ml-actions-rollback"
        assert fake.state.dispatches[0]["client_payload"]["alert"] == "MlGatewayHighErrorRate"
        fake.state.forbid_writes = True  # a token without contents:write: 403
        relay2 = AlertRelay(AlertRelayConfig(), TOKEN, Recorder(), default_model="m",
                            dispatch=dispatch)
        response, _ = post(relay2, {"alerts": [alert()]})
        handled = response.json()["handled"][0]
        assert handled["action"] == "rolled_back" and handled["dispatched"] is False
        assert len(fake.state.dispatches) == 1
    finally:
        fake.stop()
