"""The alert relay's webhook contract: auth, which alerts act, one actor per incident,
dedup that survives a restart, recording."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from ml_actions.config.rollout import AlertRelayConfig
from ml_actions.config.settings import RegistryConfig
from ml_actions.errors import InputError, MlActionsError
from ml_actions.rollout.alert_relay import (
    AlertRelay,
    AlertSubject,
    build_app,
    github_dispatcher,
)
from ml_actions.rollout.rollback import RollbackResult
from ml_actions.rollout.rollback import rollback as rollback_fn
from tests.fixtures.github_server import FakeGitHub

TOKEN = "relay-token-1"


def alert(name="MlGatewayHighErrorRate", status="firing", rollback="true", fp="f1",
          slot="canary", model_version="2", **labels):
    return {"status": status, "fingerprint": fp,
            "labels": {"alertname": name, "ml_actions_rollback": rollback, "slot": slot,
                       "model_version": model_version, **labels},
            "annotations": {"summary": f"{slot} v{model_version} fails 30% of requests"}}


class Recorder:
    def __init__(self, fail: bool = False):
        self.calls: list[tuple[AlertSubject, str]] = []
        self.fail = fail

    def __call__(self, subject: AlertSubject, reason: str) -> RollbackResult:
        self.calls.append((subject, reason))
        if self.fail:
            raise InputError("nothing to roll back")
        return RollbackResult("canary_removed", "1", subject.model_version, reason, 0.01)


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


def test_one_rollback_per_model_slot_and_version_whichever_rule_fired(tmp_path):
    rollback = Recorder()
    record = tmp_path / "incidents.jsonl"
    relay = AlertRelay(AlertRelayConfig(), TOKEN, rollback, default_model="fraud",
                       record_path=record)
    payload = {"alerts": [alert(), alert(status="resolved", fp="f2"),
                          alert(rollback="false", fp="f3"), alert(fp="f4", model_name="other"),
                          alert("MlGatewayHighLatencyP99", fp="f5")]}  # same canary, 2nd rule
    response, incidents = post(relay, payload)
    assert response.status_code == 200
    assert [(c[0].model_name, c[0].slot, c[0].model_version) for c in rollback.calls] == [
        ("fraud", "canary", "2"), ("other", "canary", "2")]
    assert "MlGatewayHighErrorRate" in rollback.calls[0][1] and "30%" in rollback.calls[0][1]
    actions = [h["action"] for h in response.json()["handled"]]
    assert actions == ["rolled_back", "rolled_back", "duplicate"]
    again, _ = post(relay, {"alerts": [alert()]})  # Alertmanager re-sends the group
    assert again.json()["handled"][0]["action"] == "duplicate" and len(rollback.calls) == 2
    newer, _ = post(relay, {"alerts": [alert(model_version="5")]})  # another version: acts
    assert newer.json()["handled"][0]["action"] == "rolled_back" and len(rollback.calls) == 3
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["rolled_back", "rolled_back", "duplicate",
                                                  "duplicate", "rolled_back"]
    assert lines[0]["rollback"]["rolled_back_version"] == "2" and lines[0]["slot"] == "canary"
    assert len(incidents.json()["incidents"]) == 3


def test_a_restarted_relay_remembers_what_it_acted_on(tmp_path):
    record = tmp_path / "incidents.jsonl"
    first = Recorder()
    post(AlertRelay(AlertRelayConfig(), TOKEN, first, "fraud", record), {"alerts": [alert()]})
    second = Recorder()
    restarted = AlertRelay(AlertRelayConfig(), TOKEN, second, "fraud", record)
    response, _ = post(restarted, {"alerts": [alert("MlGatewayHighLatencyP99")]})
    assert response.json()["handled"][0]["action"] == "duplicate" and second.calls == []
    short = AlertRelay(AlertRelayConfig(dedup_window="0s"), TOKEN, second, "fraud", record)
    response, _ = post(short, {"alerts": [alert()]})  # outside the window: acts again
    assert response.json()["handled"][0]["action"] == "rolled_back"


def test_an_alert_that_does_not_say_which_version_is_ignored_with_the_fix():
    rollback = Recorder()
    relay = AlertRelay(AlertRelayConfig(), TOKEN, rollback, default_model="m")
    response, _ = post(relay, {"alerts": [alert(slot=""), alert(fp="f2", model_version=""),
                                          alert(fp="f3", slot="previous")]})
    handled = response.json()["handled"]
    assert [h["action"] for h in handled] == ["ignored"] * 3 and rollback.calls == []
    assert "by (slot, model_version)" in handled[0]["error"]


def test_failed_rollback_is_recorded_and_a_later_alert_may_try_again():
    failing = Recorder(fail=True)
    relay = AlertRelay(AlertRelayConfig(), TOKEN, failing, default_model="m")
    response, _ = post(relay, {"alerts": [alert()]})
    handled = response.json()["handled"][0]
    assert handled["action"] == "failed" and "nothing to roll back" in handled["error"]
    post(relay, {"alerts": [alert()]})
    assert len(failing.calls) == 2  # not deduplicated: nothing was done
    bad, _ = post(relay, ["not", "a", "webhook"])
    assert bad.status_code == 400


def test_dispatch_mode_only_dispatches_with_the_expected_state():
    fake = FakeGitHub().start()
    try:
        dispatch = github_dispatcher("gh-token", "acme/fraud", fake.base_url,
                                     "ml-actions-rollback")
        rollback = Recorder()
        config = AlertRelayConfig(action="dispatch")
        relay = AlertRelay(config, TOKEN, rollback, default_model="m", dispatch=dispatch)
        response, _ = post(relay, {"alerts": [alert(), alert("MlGatewayHighLatencyP99")]})
        handled = response.json()["handled"]
        assert [h["action"] for h in handled] == ["dispatched", "duplicate"]
        assert rollback.calls == []  # one actor: the workflow
        assert len(fake.state.dispatches) == 1
        sent = fake.state.dispatches[0]
        assert sent["event_type"] == "ml-actions-rollback"
        assert {k: sent["client_payload"][k] for k in ("model_name", "slot", "model_version")} \
            == {"model_name": "m", "slot": "canary", "model_version": "2"}
        fake.state.forbid_writes = True  # a token without contents:write: 403
        relay2 = AlertRelay(config, TOKEN, rollback, default_model="m", dispatch=dispatch)
        response, _ = post(relay2, {"alerts": [alert()]})
        handled = response.json()["handled"][0]
        assert handled["action"] == "failed" and "repository_dispatch failed" in handled["error"]
        fake.state.forbid_writes = False
        retried, _ = post(relay2, {"alerts": [alert()]})  # Alertmanager re-sends: now it works
        assert retried.json()["handled"][0]["action"] == "dispatched"
        assert rollback.calls == [] and len(fake.state.dispatches) == 2
    finally:
        fake.stop()
    with pytest.raises(MlActionsError, match="no dispatcher"):
        AlertRelay(AlertRelayConfig(action="dispatch"), TOKEN, Recorder(), "m")


@pytest.mark.chaos
def test_two_alerts_and_a_late_one_for_one_canary_roll_back_once(simulator, chaos_row):
    """The chaos row: errors and latency fire for one canary, and a relay that lost its record
    sees the alert again later: exactly one rollback, the champion unchanged."""
    from tests.rollout.test_rollout_units import make_target

    target = make_target(simulator, stable="1", canary="2", weight=25)

    def real_rollback(subject: AlertSubject, reason: str) -> RollbackResult:
        return rollback_fn(target, None, RegistryConfig(), subject.model_name, reason,
                           expect_canary=subject.model_version if subject.slot == "canary"
                           else None,
                           expect_champion=subject.model_version if subject.slot == "stable"
                           else None)

    relay = AlertRelay(AlertRelayConfig(), TOKEN, real_rollback, default_model="m")
    response, _ = post(relay, {"alerts": [alert(), alert("MlGatewayHighLatencyP99")]})
    assert [h["action"] for h in response.json()["handled"]] == ["rolled_back", "duplicate"]
    assert target.state().canary_weight == 0
    forgetful = AlertRelay(AlertRelayConfig(), TOKEN, real_rollback, default_model="m")
    late, _ = post(forgetful, {"alerts": [alert()]})
    assert late.json()["handled"][0]["action"] == "not_in_expected_state"
    assert target.state().slot("stable").model_version == "1"  # never demoted
    chaos_row("two rollback alerts for one canary, then the same alert to a relay that lost "
              "its record", "exactly one rollback; the champion unchanged",
              "rolled_back, duplicate, not_in_expected_state; stable v1 kept "
              "(the relay rolls back or dispatches, never both: alert_relay.action)")
