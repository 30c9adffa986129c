"""A simulated target with a shadow slot, for the shadow phase's state-machine tests.

While a shadow is on, a thread mirrors `share` of the route's requests to it and exports the
gateway's real shadow metrics (`GatewayMetrics.observe_shadow_pairs` and the outcome and
duration series) into the simulator's registry, which a real Prometheus scrapes: the primary's
score is drawn as the stable behaviour draws it, the shadow's is the same score plus noise, and
a `ShadowBehaviour` flips a share of decisions legit -> fraud or errs.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace

from ml_actions.errors import InfrastructureError
from ml_actions.serving_contract import ROUTING_GROUPS, SlotState, TargetState
from tests.rollout.simulation import GOOD, THRESHOLD, SimulatedTarget


@dataclass(frozen=True)
class ShadowBehaviour:
    """How a shadowed candidate scores the mirrored requests relative to the primary."""

    flip_to_fraud: float = 0.0  # share of all rows pushed above the threshold
    error_rate: float = 0.0
    noise: float = 0.02


HEALTHY = ShadowBehaviour()


class ShadowedTarget(SimulatedTarget):
    """`SimulatedTarget` plus `start_shadow` / `stop_shadow`; `shadow_models` by URI."""

    supports_shadow = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shadow_models: dict[str, ShadowBehaviour] = {}
        self.shadow: tuple[str, ShadowBehaviour, float, float | None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(5)
        self._thread = threading.Thread(target=self._mirror, daemon=True)
        self._thread.start()

    def start_shadow(self, model_uri: str, share: float = 1.0, until: float | None = None,
                     timeout: float = 300) -> None:
        self.calls.append(f"start_shadow {model_uri} {share:g}")
        if model_uri not in self.models:
            raise InfrastructureError(f"{model_uri} did not load into the shadow slot")
        version = model_uri.split("/")[-1]
        with self._lock:
            self.shadow = (version, self.shadow_models.get(model_uri, HEALTHY), share, until)
            self.shadow_uri = model_uri

    def state(self) -> TargetState:
        """The gateway's view: the shadow slot, its share and `until`, as the contract says."""
        state = super().state()
        with self._lock:
            shadow = self.shadow
        if shadow is None:
            return state
        version, _, share, until = shadow
        state.slots["shadow"] = SlotState(model_uri=self.shadow_uri, model_version=version,
                                          status="ready")
        return replace(state, shadow_share=share, shadow_until=until)

    def stop_shadow(self) -> None:
        self.calls.append("stop_shadow")
        with self._lock:
            self.shadow = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _mirror(self) -> None:
        tick = 0.05
        while not self._stop.is_set():
            with self._lock:
                shadow = self.shadow
            if shadow is not None:
                self._emit(*shadow, tick)
            time.sleep(tick)

    def _emit(self, version: str, behaviour: ShadowBehaviour, share: float,
              until: float | None, tick: float) -> None:
        if until is not None and time.time() >= until:
            return
        rng, metrics = self._rng, self.sim.metrics
        expected = self.route.rate * share * tick
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            if rng.random() < behaviour.error_rate:
                metrics.shadow_requests.labels(version, "error").inc()
                continue
            _, seconds, primary = GOOD.request(rng)
            primary = primary if primary is not None else 0.0
            score = min(max(primary + rng.gauss(0, behaviour.noise), 0.0), 1.0)
            if primary < THRESHOLD and rng.random() < behaviour.flip_to_fraud / 0.95:
                score = rng.uniform(THRESHOLD, 1.0)
            group = str(rng.randrange(ROUTING_GROUPS))
            metrics.shadow_requests.labels(version, "scored").inc()
            metrics.shadow_duration.labels(version).observe(seconds)
            metrics.observe_shadow_pairs(version, [primary], [score], THRESHOLD, group)
