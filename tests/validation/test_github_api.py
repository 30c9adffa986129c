"""The sticky comment and deployment records, against the fake GitHub over real HTTP."""

from __future__ import annotations

import json

import pytest

from ml_actions.github.comments import (
    FORK_HINT,
    GitHubApi,
    comment_marker,
    publish_sticky_comment,
    with_marker,
)
from ml_actions.templating import GITHUB_COMMENT_LIMIT
from tests.validation.conftest import REPOSITORY, pull_request_event

TOKEN = "ghs_testtoken"


def api(fake) -> GitHubApi:
    return GitHubApi(TOKEN, REPOSITORY, fake.base_url, throttle=False)


def test_marker_carries_kind_and_model_and_cannot_close_the_html_comment():
    marker = comment_marker("validate-model", "fraud --> <b>x</b>")
    assert marker.startswith("<!-- ml-actions:validate-model:fraud")
    assert marker.endswith(" -->")
    assert "-->" not in marker[4:-4] and "<b>" not in marker
    assert comment_marker("validate-model", "a") != comment_marker("validate-model", "b")


def test_comment_created_then_edited_in_place(fake_github):
    fake_github.state.expected_token = TOKEN
    fake_github.add_comment(REPOSITORY, 7, "LGTM, a human comment")
    marker = comment_marker("validate-model", "fraud_detector")
    first = api(fake_github).upsert_comment(7, marker, "report one")
    second = api(fake_github).upsert_comment(7, marker, "report two")
    comments = fake_github.state.comments[7]
    assert (first.action, second.action) == ("created", "updated")
    assert len(comments) == 2 and comments[0]["body"] == "LGTM, a human comment"
    assert comments[1]["body"] == f"{marker}\nreport two"
    assert first.url == second.url and first.url.endswith(f"#issuecomment-{comments[1]['id']}")
    assert [r.method for r in fake_github.state.writes()] == ["POST", "PATCH"]
    assert all(r.authorization == f"token {TOKEN}" for r in fake_github.state.requests)


def test_one_comment_per_model_and_marker_found_on_a_later_page(fake_github):
    for i in range(35):  # more than one page of 30
        fake_github.add_comment(REPOSITORY, 7, f"chatter {i}")
    first = comment_marker("validate-model", "fraud_detector")
    other = comment_marker("validate-model", "aml_detector")
    client = api(fake_github)
    client.upsert_comment(7, first, "a")
    client.upsert_comment(7, other, "b")
    client.upsert_comment(7, first, "a2")
    bodies = [c["body"] for c in fake_github.state.comments[7][35:]]
    assert bodies == [f"{first}\na2", f"{other}\nb"]
    pages = [r.query.get("page") for r in fake_github.state.requests if r.method == "GET"]
    assert ["2"] in pages


def test_a_comment_someone_else_posts_with_our_marker_is_never_edited(fake_github):
    """The marker is public text: matching it alone would let anyone hijack the report."""
    marker = comment_marker("validate-model", "fraud_detector")
    fake_github.add_comment(REPOSITORY, 7, f"{marker}\nfake: all checks passed", login="mallory")
    fake_github.add_comment(REPOSITORY, 7, f"quoting {marker} in a reply",
                            login="github-actions[bot]")
    client = api(fake_github)
    first = client.upsert_comment(7, marker, "the real report")
    second = client.upsert_comment(7, marker, "the real report, updated")
    comments = fake_github.state.comments[7]
    assert (first.action, second.action) == ("created", "updated")
    assert comments[0]["body"] == f"{marker}\nfake: all checks passed"  # untouched
    assert comments[1]["body"] == f"quoting {marker} in a reply"  # does not start with it
    assert comments[2]["body"] == f"{marker}\nthe real report, updated"
    assert comments[2]["user"]["login"] == "github-actions[bot]"


def test_a_personal_token_finds_its_own_comment_by_the_configured_author(fake_github):
    marker = comment_marker("validate-model", "fraud_detector")
    fake_github.add_comment(REPOSITORY, 7, f"{marker}\nold report", login="release-bot")
    outcome = api(fake_github).upsert_comment(7, marker, "new", author="release-bot")
    assert outcome.action == "updated"
    assert fake_github.state.comments[7][0]["body"] == f"{marker}\nnew"


def test_long_body_is_cut_under_the_limit():
    marker = comment_marker("validate-model", "m")
    text = with_marker(marker, "x" * 100_000)
    assert len(text) <= GITHUB_COMMENT_LIMIT and text.startswith(marker)
    assert "truncated" in text


def test_publish_posts_on_a_pull_request(fake_github, runner_factory, tmp_path):
    files = runner_factory(pull_request_event(7), GITHUB_API_URL=fake_github.base_url)
    outcome = publish_sticky_comment(files.runner.context, "body", "<!-- m -->", TOKEN,
                                     tmp_path / "comment.md", throttle=False)
    assert outcome.posted and outcome.action == "created"
    assert not (tmp_path / "comment.md").exists()
    assert fake_github.state.comments[7][0]["body"] == "<!-- m -->\nbody"


def test_fork_403_writes_the_file_and_never_raises(fake_github, runner_factory, tmp_path):
    fake_github.state.forbid_writes = True
    files = runner_factory(pull_request_event(7, fork=True), GITHUB_API_URL=fake_github.base_url)
    path = tmp_path / "out" / "comment.md"
    outcome = publish_sticky_comment(files.runner.context, "the report", "<!-- m -->", TOKEN, path,
                                     throttle=False)
    assert not outcome.posted and outcome.action == "written-to-file"
    assert outcome.reason == FORK_HINT and outcome.path == str(path)
    assert path.read_text() == "<!-- m -->\nthe report"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar == {"repository": REPOSITORY, "pull_request": 7, "marker": "<!-- m -->",
                       "body_path": "comment.md", "reason": FORK_HINT}
    assert [r.method for r in fake_github.state.writes()] == ["POST"]
    assert fake_github.state.comments == {}


@pytest.mark.parametrize("case", ["no-token", "not-a-pr", "no-repository", "disabled"])
def test_publish_falls_back_to_a_file_without_calling_github(case, fake_github, runner_factory,
                                                             tmp_path):
    event = None if case == "not-a-pr" else pull_request_event(3)
    files = runner_factory(event, GITHUB_API_URL=fake_github.base_url)
    if case == "no-repository":
        files.runner.env.pop("GITHUB_REPOSITORY")
    token = None if case == "no-token" else TOKEN
    outcome = publish_sticky_comment(files.runner.context, "r", "<!-- m -->", token,
                                     tmp_path / "c.md",
                                     enabled=case != "disabled", throttle=False)
    assert not outcome.posted and (tmp_path / "c.md").read_text() == "<!-- m -->\nr"
    expected = {"no-token": "GITHUB_TOKEN", "not-a-pr": "not a pull request",
                "no-repository": "GITHUB_REPOSITORY", "disabled": "disabled"}[case]
    assert expected in outcome.reason
    assert fake_github.state.requests == []


def test_bad_credentials_and_unreachable_server_fall_back(fake_github, runner_factory, tmp_path):
    fake_github.state.expected_token = "another"
    files = runner_factory(pull_request_event(7), GITHUB_API_URL=fake_github.base_url)
    outcome = publish_sticky_comment(files.runner.context, "r", "<!-- m -->", TOKEN,
                                     tmp_path / "a.md",
                                     throttle=False)
    assert "HTTP 401" in outcome.reason and "Bad credentials" in outcome.reason
    dead = runner_factory(pull_request_event(7), GITHUB_API_URL="http://127.0.0.1:9/api/v3")
    outcome = publish_sticky_comment(dead.runner.context, "r", "<!-- m -->", TOKEN,
                                     tmp_path / "b.md",
                                     throttle=False)
    assert not outcome.posted and "unreachable" in outcome.reason
    garbled = runner_factory(pull_request_event(7), GITHUB_API_URL="ftp://nowhere")
    outcome = publish_sticky_comment(garbled.runner.context, "r", "<!-- m -->", TOKEN,
                                     tmp_path / "c.md", throttle=False)
    assert not outcome.posted and "ftp://nowhere" in outcome.reason
    assert (tmp_path / "c.md").exists()


def test_deployment_and_its_statuses(fake_github, runner_factory):
    files = runner_factory(GITHUB_API_URL=fake_github.base_url)
    assert GitHubApi.for_workflow(files.runner.context, None) is None
    client = GitHubApi.for_workflow(files.runner.context, TOKEN, throttle=False)
    did = client.create_deployment("a" * 40, "prod", "canary fraud_detector v3",
                                   payload={"model": "fraud_detector", "version": "3"},
                                   production=True)
    client.set_deployment_status(did, "in_progress", "5% of traffic")
    client.set_deployment_status(did, "success", "promoted", environment_url="http://gw/",
                                 log_url="http://ci/run/1")
    deployment = fake_github.state.deployments[0]
    assert deployment["id"] == did and deployment["environment"] == "prod"
    assert deployment["payload"] == {"model": "fraud_detector", "version": "3"}
    assert deployment["production_environment"] is True
    posted = [r.body for r in fake_github.state.writes("POST")]
    assert posted[0]["required_contexts"] == [] and posted[0]["auto_merge"] is False
    states = [s["state"] for s in fake_github.state.statuses[did]]
    assert states == ["in_progress", "success"]
    assert fake_github.state.statuses[did][1]["environment_url"] == "http://gw/"
    assert fake_github.state.statuses[did][1]["target_url"] == "http://ci/run/1"
    with pytest.raises(ValueError, match="not one of"):
        client.set_deployment_status(did, "done")
