"""A controllable traffic source for the analysis and state-machine tests.

It emits the gateway's real metrics (`ml_actions.serving.gateway_metrics.GatewayMetrics`, same
names, labels
and buckets) from simulated requests whose error rate, latency and fraud scores each test
chooses, served over HTTP for a real Prometheus to scrape. `SimulatedTarget` is a
`DeploymentTarget` whose slots route that simulated traffic, so the rollout state machine can
be driven through many scenarios in seconds; the end-to-end tests use the real gateway.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, replace
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving_contract import ROUTING_GROUPS
from ml_actions.targets.base import DeploymentTarget, SlotState, TargetState
from tests.fixtures.local_services import free_port

THRESHOLD = 0.5


@dataclass
class Behaviour:
    """How a simulated model answers: 5xx share, latency, share of high fraud scores."""

    error_rate: float = 0.0
    latency: float = 0.01
    fraud_share: float = 0.05

    def request(self, rng: random.Random) -> tuple[int, float, float | None]:
        seconds = self.latency * rng.uniform(0.6, 1.4)
        if rng.random() < self.error_rate:
            return 500, seconds, None
        score = rng.uniform(0.6, 1.0) if rng.random() < self.fraud_share else \
            rng.betavariate(1, 10)
        return 200, seconds, score


GOOD = Behaviour()
ERRORS_30 = Behaviour(error_rate=0.3)
SHIFTED = Behaviour(fraud_share=0.25)
SLOW = Behaviour(latency=0.4)


@dataclass
class Route:
    """One simulated gateway's routing: versions and behaviours per slot, and the weight."""

    stable: tuple[str, Behaviour] | None = None
    canary: tuple[str, Behaviour] | None = None
    weight: float = 0.0
    rate: float = 200.0  # requests per second
    served: dict[str, int] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class TrafficSimulator:
    """Generates requests for every route in small ticks and exports the gateway metrics."""

    def __init__(self, tick: float = 0.05, seed: int = 7):
        self.metrics = GatewayMetrics()
        self.routes: list[Route] = []
        self.tick = tick
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.port = free_port()
        self._app = make_wsgi_app(self.metrics.registry)
        self.server: WSGIServer = make_server("127.0.0.1", self.port, self._serve,
                                              handler_class=_QuietHandler)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                         threading.Thread(target=self._run, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self, environ, start_response):
        with self.lock:
            app = self._app
        return app(environ, start_response)

    def reset(self) -> None:
        """Fresh metrics and no routes, so tests reusing version numbers do not mix."""
        with self.lock:
            self.routes = []
            self.metrics = GatewayMetrics()
            self._app = make_wsgi_app(self.metrics.registry)

    def restart(self) -> None:
        """What a gateway restart looks like to Prometheus: every counter starts again at 0."""
        with self.lock:
            self.metrics = GatewayMetrics()
            self._app = make_wsgi_app(self.metrics.registry)

    def add(self, route: Route) -> Route:
        with self.lock:
            self.routes.append(route)
        return route

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            with self.lock:
                for route in self.routes:
                    self._emit(route)
            time.sleep(max(0.0, self.tick - (time.monotonic() - started)))

    def _emit(self, route: Route) -> None:
        expected = route.rate * self.tick
        count = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            use_canary = route.canary is not None and self.rng.random() * 100 < route.weight
            slot = "canary" if use_canary else "stable"
            target = route.canary if use_canary else route.stable
            if target is None:
                continue
            version, behaviour = target
            code, seconds, score = behaviour.request(self.rng)
            group = str(self.rng.randrange(ROUTING_GROUPS))  # unkeyed: a random group
            self.metrics.observe_request(slot, version, code, seconds, group)
            if score is not None:
                self.metrics.observe_scores(slot, version, [score], THRESHOLD, group)
            route.served[slot] = route.served.get(slot, 0) + 1

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


class SimulatedTarget(DeploymentTarget):
    """A `DeploymentTarget` over one simulated route; models are behaviours keyed by URI."""

    def __init__(self, sim: TrafficSimulator, route: Route, models: dict[str, Behaviour]):
        self.sim, self.route, self.models = sim, route, models
        self._state = TargetState(slots={"stable": SlotState(), "canary": SlotState(),
                                         "previous": SlotState()})
        self._behaviours: dict[str, tuple[str, Behaviour] | None] = {
            "stable": None, "canary": None, "previous": None}
        self.calls: list[str] = []

    def _sync(self) -> None:
        with self.sim.lock:
            self.route.stable = self._behaviours["stable"]
            self.route.canary = self._behaviours["canary"]
            self.route.weight = self._state.canary_weight
            weight = self._state.canary_weight
            self.sim.metrics.set_slots({"canary": weight, "stable": 100 - weight}, {})

    def state(self) -> TargetState:
        return replace(self._state, slots=dict(self._state.slots))

    def load(self, slot: str, model_uri: str, wait: bool = True,
             timeout: float = 300.0) -> SlotState:
        self.calls.append(f"load {slot} {model_uri}")
        if model_uri not in self.models:
            self._state.slots[slot] = SlotState(model_uri=model_uri, status="failed",
                                                error="no such model")
            return self._state.slots[slot]
        name, version = model_uri.split("/")[-2:]
        if slot == "stable" and self._behaviours["stable"] is not None:
            self._behaviours["previous"] = self._behaviours["stable"]
            self._state.slots["previous"] = self._state.slots["stable"]
        self._behaviours[slot] = (version, self.models[model_uri])
        self._state.slots[slot] = SlotState(model_uri=model_uri, model_name=name,
                                            model_version=version, status="ready")
        self._sync()
        return self._state.slots[slot]

    def set_canary_weight(self, weight: float) -> None:
        self.calls.append(f"weight {weight:g}")
        if weight > 0 and self._behaviours["canary"] is None:
            raise RuntimeError("no canary loaded")
        self._state.canary_weight = weight
        self._sync()

    def promote(self) -> None:
        self.calls.append("promote")
        slots, b = self._state.slots, self._behaviours
        slots["previous"], slots["stable"], slots["canary"] = slots["stable"], slots["canary"], \
            SlotState()
        b["previous"], b["stable"], b["canary"] = b["stable"], b["canary"], None
        self._state.canary_weight = 0.0
        self._sync()

    def rollback(self) -> None:
        self.calls.append("rollback")
        slots, b = self._state.slots, self._behaviours
        if b["canary"] is not None:
            b["canary"], slots["canary"] = None, SlotState()
        elif b["previous"] is not None:
            b["stable"], slots["stable"] = b["previous"], slots["previous"]
            b["previous"], slots["previous"] = None, SlotState()
        else:
            raise RuntimeError("nothing to roll back")
        self._state.canary_weight = 0.0
        self._sync()
