"""The rollout lock against a real MLflow server (sqlite backend, as in production setups):
concurrent starts, refusals naming the holder, `--resume` adopting, stale takeover, release at
every ending of `canary-deploy` and by `ml-actions rollback`."""

from __future__ import annotations

import threading

import pytest

from ml_actions.config.settings import RegistryConfig
from ml_actions.errors import InfrastructureError, InputError
from ml_actions.registry import Registry
from ml_actions.rollout.rollback import rollback
from ml_actions.rollout.rollout_lock import (
    HOLDER_TAG,
    SUFFIX,
    TAKEOVER_TAG,
    LockHolder,
    RolloutLock,
    this_run,
)
from ml_actions.rollout.start import prepare
from ml_actions.targets.base import DeploymentTarget, SlotState, TargetState
from tests.rollout.cli_simulation import CliDeploy
from tests.rollout.conftest import fast_config
from tests.rollout.registry_setup import register_versions, unique_name
from tests.rollout.simulation import ERRORS_30, GOOD, Route, SimulatedTarget

pytestmark = pytest.mark.integration


class StableOnly(DeploymentTarget):
    """A target whose stable slot serves v1: all `prepare` reads of a target."""

    def state(self) -> TargetState:
        return TargetState(slots={"stable": SlotState(model_version="1", status="ready")})

    def load(self, slot, model_uri, wait=True, timeout=300.0):
        raise AssertionError("prepare never loads")

    def set_canary_weight(self, weight):
        raise AssertionError("prepare never moves traffic")

    def promote(self):
        raise AssertionError("prepare never promotes")

    def rollback(self):
        raise AssertionError("prepare never rolls back")


@pytest.fixture
def model(tracking_uri):
    name = unique_name("lock")
    register_versions(tracking_uri, name, 2)
    return name


def holder(run_id: str) -> LockHolder:
    return this_run({"GITHUB_RUN_ID": run_id, "GITHUB_RUN_ATTEMPT": "1"})


def start(registry, model, run_id, resume=False, lock=None, **kw):
    lock = lock or RolloutLock(registry, model, holder(run_id), **kw)
    ref, state = prepare(registry, fast_config(), StableOnly(), model, None if resume else "2",
                         False, resume, lock=lock)
    return lock, ref, state


def race(contenders: int, attempt) -> tuple[list, list[str]]:
    """`attempt(i)` in `contenders` threads released at one instant: (winners, refusals)."""
    barrier = threading.Barrier(contenders)
    won, refused, other = [], [], []

    def contend(i: int) -> None:
        barrier.wait()
        try:
            won.append(attempt(i))
        except InputError as err:
            refused.append(str(err))
        except Exception as err:  # noqa: BLE001 - asserted empty below, with the error
            other.append(repr(err))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not other, other
    return won, refused


def test_concurrent_acquires_exactly_one_wins_every_round(tracking_uri, model):
    """Four runners take the lock at the same instant, twenty times: one holds it, three are
    told who does; then the rollout ends and the holder releases it for the next round."""
    registries = [Registry(tracking_uri) for _ in range(4)]
    for round_ in range(20):
        locks = [RolloutLock(registries[i], model, holder(f"{round_}0{i}")) for i in range(4)]
        won, refused = race(4, lambda i, locks=locks: locks[i].acquire("2") and locks[i])
        assert len(won) == 1 and len(refused) == 3, (round_, won, refused)
        winner = won[0]
        assert [lock for lock in locks if lock.held] == [winner]
        assert all(f"run {winner.me.run_id}, v2, since" in message for message in refused)
        assert winner.read().holder == winner.me.holder
        assert winner.release() and winner.read() is None


def test_concurrent_prepares_start_exactly_one_rollout(tracking_uri, model):
    """The same through `prepare`, whose old check-then-set let every runner through: one
    rollout state is written, by the lock's holder, and the others touch nothing."""
    registries = [Registry(tracking_uri) for _ in range(3)]
    for round_ in range(2):
        locks = [RolloutLock(registries[i], model, holder(f"{round_}1{i}")) for i in range(3)]
        won, refused = race(3, lambda i, locks=locks: start(registries[i], model, "",
                                                             lock=locks[i])[0])
        assert len(won) == 1 and len(refused) == 2, (round_, won, refused)
        winner = next(lock for lock in locks if lock.held)
        tags = registries[0].get_tags(model, "2")
        assert tags[HOLDER_TAG] == winner.me.holder and tags["rollout.status"] == "running"
        assert all("already running" in message and f"run {winner.me.run_id}," in message
                   for message in refused)
        registries[0].set_tags(model, "2", {"rollout.status": "aborted"})  # the rollout ends
        assert winner.release_if_ended() == f"released {model}{SUFFIX}"


def test_a_second_start_is_refused_and_resume_adopts_the_lock(tracking_uri, model):
    registry = Registry(tracking_uri)
    first, _, _ = start(registry, model, "100")
    with pytest.raises(InputError) as refused:
        start(registry, model, "200")
    message = str(refused.value)
    assert "\n" not in message and "already running" in message
    assert f"run {first.me.run_id}, v2, since {first.held.since}" in message
    assert "--resume" in message and "ml-actions rollback" in message
    assert first.read().holder == first.me.holder  # the refusal changed nothing
    registry.set_alias(model, "canary", "2")  # as Rollout.run does; then runner 100 dies
    resumed, ref, state = start(registry, model, "101", resume=True)
    assert ref.version == "2" and state.status == "running"
    record = resumed.read()
    assert record.holder == resumed.me.holder and record.run_id == "101.1"
    assert resumed.took_over.holder == first.me.holder
    assert "adopted by --resume" in record.took_over and "run 100.1" in record.took_over
    tags = registry.get_tags(model, "2")
    assert tags[HOLDER_TAG] == resumed.me.holder and "run 100.1" in tags[TAKEOVER_TAG]
    assert not first.release()  # the dead runner's lock is no longer its to release
    assert resumed.read().holder == resumed.me.holder


def test_a_stale_lock_is_taken_over_and_recorded(tracking_uri, model):
    registry = Registry(tracking_uri)
    first, _, _ = start(registry, model, "300")
    # its rollout ended (rolled back by the alert relay, say) but the runner never released
    registry.set_tags(model, "2", {"rollout.status": "rolled_back"})
    second, _, _ = start(registry, model, "400")
    assert second.read().holder == second.me.holder
    assert second.took_over.holder == first.me.holder
    assert "rollout.status=rolled_back" in second.took_over_why
    assert "run 300.1" in registry.get_tags(model, "2")[TAKEOVER_TAG]


def test_a_holder_that_died_while_starting_holds_the_lock_only_for_the_grace(tracking_uri,
                                                                              model):
    registry = Registry(tracking_uri)
    dead = RolloutLock(registry, model, holder("500"))
    dead.acquire("2")  # ... and died before writing its rollout on v2
    with pytest.raises(InputError, match="run 500.1"):
        start(registry, model, "600")
    late, _, _ = start(registry, model, "700", grace_seconds=0.0)
    assert late.took_over.holder == dead.me.holder and "died while starting" in \
        late.took_over_why


def test_a_refused_start_gives_the_lock_back(tracking_uri, model):
    registry = Registry(tracking_uri)
    registry.set_tags(model, "2", {"validation.status": "failed"})
    with pytest.raises(InputError, match="skip-validation-check"):
        start(registry, model, "800")
    assert RolloutLock(registry, model, holder("801")).read() is None


def test_lock_names_are_not_model_names(tracking_uri):
    with pytest.raises(InputError, match="rollout locks"):
        RolloutLock(Registry(tracking_uri), "fraud" + SUFFIX, holder("1"))


def test_rollback_removes_the_lock_of_the_rollout_it_stops(sim, tracking_uri):
    name = unique_name("lockrb")
    v1, v2 = register_versions(tracking_uri, name, 2)
    registry = Registry(tracking_uri)
    target = SimulatedTarget(sim, sim.add(Route(rate=10)),
                             {f"models:/{name}/{v1}": GOOD, f"models:/{name}/{v2}": GOOD})
    target.load("stable", f"models:/{name}/{v1}")
    lock = RolloutLock(registry, name, holder("900"))
    prepare(registry, fast_config(), target, name, v2, False, False, lock=lock)
    registry.set_alias(name, "canary", v2)
    target.load("canary", f"models:/{name}/{v2}")
    target.set_canary_weight(20)  # then the runner dies; someone runs `ml-actions rollback`
    done = rollback(target, registry, RegistryConfig(), name, "bad canary")
    assert done.action == "canary_removed" and done.rolled_back_version == v2
    assert lock.read() is None
    assert registry.get_tags(name, v2)["rollout.status"] == "rolled_back"


class RefusesTraffic(SimulatedTarget):
    """The gateway loads the canary, then refuses to route to it: the rollout stops on an
    error it cannot judge past (the emergency stop)."""

    def set_canary_weight(self, weight: float) -> None:
        if weight > 0:
            raise InfrastructureError("gateway at http://simulated answered 503")
        super().set_canary_weight(weight)


class UnloadableCandidate(SimulatedTarget):
    def load(self, slot, model_uri, wait=True, timeout=300.0):
        if slot == "canary":
            return SlotState(model_uri=model_uri, status="failed", error="no such model")
        return super().load(slot, model_uri, wait, timeout)


@pytest.mark.parametrize("ending,code,kwargs", [
    ("rolled_back", 1, {"candidate": ERRORS_30, "rate": 300.0}),
    ("aborted", 2, {"target_cls": UnloadableCandidate}),
    ("inconclusive", 1, {"rate": 2, "config": fast_config(analysis={"inconclusive_timeout":
                                                                     "2s"})}),
    ("emergency stop", 2, {"target_cls": RefusesTraffic}),
])
def test_canary_deploy_releases_the_lock_at_every_ending(sim, sim_prometheus, tracking_uri,
                                                         monkeypatch, tmp_path, ending, code,
                                                         kwargs):
    d = CliDeploy(sim, sim_prometheus.url, tracking_uri, **kwargs)
    run = d.run(monkeypatch, tmp_path)
    assert run.code == code, run.out
    status = d.tags()["rollout.status"]
    assert status == ("aborted" if ending == "emergency stop" else ending), run.out
    assert d.lock_tags() is None, run.out
    assert f"released {d.name}{SUFFIX}" in run.out
    # the holder's lock is gone, so the next start takes a fresh one
    assert RolloutLock(d.registry, d.name, holder("1")).acquire(d.v2).run_id == "1.1"


def test_canary_deploy_refused_while_locked_exits_2_naming_the_holder(sim, sim_prometheus,
                                                                      tracking_uri, monkeypatch,
                                                                      tmp_path):
    d = CliDeploy(sim, sim_prometheus.url, tracking_uri)
    other = RolloutLock(d.registry, d.name, holder("77"))
    prepare(d.registry, d.config, d.target, d.name, d.v2, False, False, lock=other)
    run = d.run(monkeypatch, tmp_path)
    assert run.code == 2, run.out
    errors = [ln for ln in run.out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"run 77.1, v{d.v2}, since {other.held.since}" in errors[0]
    assert "--resume" in errors[0] and "ml-actions rollback" in errors[0]
    assert d.lock_tags()["lock.holder"] == other.me.holder
    assert d.target.calls == [f"load stable models:/{d.name}/{d.v1}"]  # no traffic moved
