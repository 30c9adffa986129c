"""Admin operations on the slots: load, weight, promote, rollback, release, shadow, restore.

Everything here runs on the event loop thread, so operations are serialised without locks;
only loading and warming a model runs in a worker thread. Each load carries a generation per
slot: a rollback or a newer load bumps it, and a load that finishes for an old generation is
discarded instead of swapped in. Every change is persisted before it is answered. The shadow's
expiry (`shadow_until`) is a timer on the loop, re-armed from the state file on restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ml_actions.config.gateway import GatewayConfig
from ml_actions.errors import first_line
from ml_actions.serving.batching import MicroBatcher
from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving.model_loading import ServedModel
from ml_actions.serving.model_warmup import load_and_warm
from ml_actions.serving.shadow_mirror import timed_scorer
from ml_actions.serving.slots import LiveModel, RoutingTable
from ml_actions.serving.state_store import StateStore
from ml_actions.serving.wall_clock_timer import WallClockTimer
from ml_actions.serving_contract import SHADOW, SLOTS, SlotState, TargetState
from ml_actions.timestamps import now_iso

log = logging.getLogger("ml_actions.gateway")
Loader = Callable[[str], ServedModel]


class AdminRefusal(Exception):
    """An admin request that cannot be done in the current state (409) or is invalid (400)."""

    def __init__(self, reason: str, status: int = 409):
        super().__init__(reason)
        self.reason, self.status = reason, status


class SlotManager:
    def __init__(self, config: GatewayConfig, loader: Loader, store: StateStore,
                 metrics: GatewayMetrics, predict_executor: ThreadPoolExecutor):
        self.config = config
        self.loader = loader
        self.store = store
        self.metrics = metrics
        self.predict_executor = predict_executor
        self.load_executor = ThreadPoolExecutor(2, thread_name_prefix="model-load")
        self.table = RoutingTable()
        self.state = TargetState(slots={s: SlotState() for s in SLOTS})
        self._generation = dict.fromkeys(SLOTS, 0)
        self._tasks: set[asyncio.Task] = set()
        self.shadow_executor = ThreadPoolExecutor(config.shadow_threads,
                                                  thread_name_prefix="shadow")
        self._expiry = WallClockTimer(self._expire)  # the shadow's `until`

    # -- reading ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.table.stable is not None

    def snapshot(self) -> dict:
        data = self.state.to_dict()
        data["effective_weights"] = self.table.weights()
        return data

    # -- loading ---------------------------------------------------------------------------
    def load(self, slot: str, uri: str, actor: str) -> SlotState:
        """Start loading `uri` into `slot` in the background; answer at once."""
        if slot not in ("stable", "canary", SHADOW):
            raise AdminRefusal(f"slot must be stable or canary (or shadow), got {slot!r}", 400)
        if not isinstance(uri, str) or not uri.strip():
            raise AdminRefusal("model_uri is required, e.g. models:/fraud_detector/3", 400)
        self._start_load(slot, uri.strip(), shift=True)
        self.store.record(self.state, actor, "load-requested", {"slot": slot, "model_uri": uri})
        return self.state.slots[slot]

    def _start_load(self, slot: str, uri: str, shift: bool) -> None:
        self._generation[slot] += 1
        current = self.state.slots[slot]
        self.state.slots[slot] = replace(current, status="loading", requested_uri=uri,
                                         error=None)
        task = asyncio.get_running_loop().create_task(
            self._load(slot, uri, self._generation[slot], shift))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _batcher(self, model: ServedModel, slot: str) -> MicroBatcher:
        """A Spark form waits `max_batch_wait_ms` for company (a transform costs the same for
        one row or a hundred); an ONNX form never waits and scores small requests inline.
        The shadow runs on its own threads and never inline: it must not slow an answer."""
        fast, timeout = model.form == "onnx", self.config.request_timeout_seconds
        wait = 0.0 if fast else self.config.max_batch_wait_ms / 1000.0
        if slot == SHADOW:
            return MicroBatcher(timed_scorer(model.score), self.shadow_executor,
                                self.config.max_batch_size,
                                self.config.shadow_batch_wait_ms / 1000.0, timeout_s=timeout)
        return MicroBatcher(model.score, self.predict_executor, self.config.max_batch_size,
                            wait, self.metrics.batch_size.observe,
                            inline_rows=self.config.inline_rows if fast else 0, timeout_s=timeout)

    async def _load(self, slot: str, uri: str, generation: int, shift: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(self.load_executor, load_and_warm,
                                               self.loader, uri, self.config)
        except Exception as err:  # noqa: BLE001 - any failure leaves the old model serving
            reason = f"{type(err).__name__}: {first_line(err, 500)}" if str(err).strip() \
                else type(err).__name__
            log.warning("loading %s into %s failed: %s", uri, slot, reason)
            if generation == self._generation[slot]:
                self.state.slots[slot] = replace(self.state.slots[slot], status="failed",
                                                 error=f"loading {uri} failed: {reason}")
                self.store.record(self.state, "gateway", "load-failed",
                                  {"slot": slot, "model_uri": uri, "error": reason})
            return
        if generation != self._generation[slot]:  # cancelled by a rollback or a newer load
            model.release()
            return
        live = LiveModel(model, self._batcher(model, slot))
        old = self.table.get(slot)
        table = self.table.with_slot(slot, live)
        if shift and slot == "stable" and old is not None:
            self._retire(table.previous)  # the old stable stays warm as `previous`
            table = table.with_slot("previous", old)
            self.state.slots["previous"] = replace(
                self.state.slots["stable"], status="ready", error=None,
                requested_uri=self.state.slots["stable"].model_uri)
        elif old is not None:
            self._retire(old)
        self.state.slots[slot] = SlotState(
            model_uri=model.ref.uri, model_name=model.name, model_version=model.version,
            status="ready", loaded_at=now_iso("milliseconds"), requested_uri=uri,
            flavor=model.flavor, form=model.form)
        self._swap(table)
        self.store.record(self.state, "gateway", "load-succeeded",
                          {"slot": slot, "model_uri": model.ref.uri, "form": model.form})
        log.info("%s now serves %s (%s form)", slot, model.ref.uri, model.form)

    # -- traffic ---------------------------------------------------------------------------
    def set_weight(self, weight: object, actor: str) -> None:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not 0 <= weight <= 100:
            raise AdminRefusal(f"canary_weight must be a number in [0, 100], got {weight!r}", 400)
        if weight > 0 and self.table.canary is None:
            raise AdminRefusal("the canary slot has no ready model; load one and wait for "
                               "status=ready before sending it traffic")
        self.state.canary_weight = float(weight)
        self._swap(replace(self.table, canary_weight=float(weight)))
        self.store.record(self.state, actor, "traffic", {"canary_weight": float(weight)})

    def promote(self, actor: str) -> None:
        canary = self.table.canary
        if canary is None:
            raise AdminRefusal("nothing to promote: the canary slot has no ready model")
        self._generation["canary"] += 1
        self._retire(self.table.previous)
        old = self.state.slots
        self.state.slots = {"stable": old["canary"], "canary": SlotState(),
                            "previous": old["stable"], SHADOW: old[SHADOW]}
        self.state.canary_weight = 0.0
        self._swap(replace(self.table, stable=canary, canary=None, previous=self.table.stable,
                           canary_weight=0.0))
        self.store.record(self.state, actor, "promote", {"model_uri": canary.model.ref.uri})

    def rollback(self, actor: str) -> str:
        """Kill the canary if there is one, else put `previous` back; returns what was done."""
        if self.table.canary is not None or self.state.slots["canary"].status == "loading":
            uri = self.state.slots["canary"].model_uri or self.state.slots["canary"].requested_uri
            self._generation["canary"] += 1
            self.state.canary_weight = 0.0
            self.state.slots["canary"] = SlotState()
            old = self.table.canary
            self._swap(replace(self.table, canary=None, canary_weight=0.0))
            self._retire(old)
            self.store.record(self.state, actor, "rollback", {"removed": "canary",
                                                              "model_uri": uri})
            return "canary-removed"
        if self.table.previous is not None:
            old = self.table.stable
            self._generation["stable"] += 1
            self._generation["previous"] += 1
            self.state.slots["stable"] = self.state.slots["previous"]
            self.state.slots["previous"] = SlotState()
            self._swap(replace(self.table, stable=self.table.previous, previous=None))
            self._retire(old)
            self.store.record(self.state, actor, "rollback", {
                "restored": "previous", "model_uri": self.state.slots["stable"].model_uri})
            return "previous-restored"
        raise AdminRefusal("nothing to roll back: no canary and no previous model")

    def release(self, slot: str, actor: str) -> None:
        """Drop the warm `previous` model (it only exists for an instant rollback)."""
        if slot != "previous":
            raise AdminRefusal("only the previous slot can be released; use rollback for the "
                               "canary", 400)
        old = self.table.previous
        self._generation["previous"] += 1
        self.state.slots["previous"] = SlotState()
        self._swap(replace(self.table, previous=None))
        self._retire(old)
        self.store.record(self.state, actor, "release", {"slot": slot})

    # -- shadow ------------------------------------------------------------------------------
    def start_shadow(self, share: float, until: float | None, actor: str) -> None:
        """Mirror `share` of the requests to the shadow slot's model until `until`."""
        if self.state.slots[SHADOW].status not in ("ready", "loading"):
            raise AdminRefusal("the shadow slot has no model; POST /admin/load with "
                               "slot=shadow first")
        self.state.shadow_share, self.state.shadow_until = share, until
        self._schedule_expiry()
        self.store.record(self.state, actor, "shadow", {"shadow_share": share,
                                                        "shadow_until": until})

    def stop_shadow(self, actor: str, action: str = "shadow-stopped") -> None:
        """Stop mirroring and unload the shadow model."""
        uri = self.state.slots[SHADOW].model_uri or self.state.slots[SHADOW].requested_uri
        self._generation[SHADOW] += 1
        self._expiry.cancel()
        self.state.slots[SHADOW] = SlotState()
        self.state.shadow_share, self.state.shadow_until = 0.0, None
        old = self.table.shadow
        self._swap(replace(self.table, shadow=None))
        self._retire(old)
        self.store.record(self.state, actor, action, {"slot": SHADOW, "model_uri": uri})

    @staticmethod
    def _shadow_alive(until: float | None) -> bool:
        return until is None or until > time.time()

    def _schedule_expiry(self) -> None:
        self._expiry.arm(self.state.shadow_until)

    def _expire(self) -> None:
        if self.state.shadow_until is None:
            return
        log.info("shadow expired (until %.0f): unloading it", self.state.shadow_until)
        self.stop_shadow("gateway", "shadow-expired")

    # -- lifecycle -------------------------------------------------------------------------
    def restore(self) -> None:
        """Load what the state file says each slot served, with the same weight."""
        saved = self.store.load()
        if saved is None:
            return
        self.state.history = saved.history
        self.state.canary_weight = saved.canary_weight
        self.state.updated_at, self.state.updated_by = saved.updated_at, saved.updated_by
        self._swap(replace(self.table, canary_weight=saved.canary_weight))
        restore_shadow = self._shadow_alive(saved.shadow_until)
        if restore_shadow:
            self.state.shadow_share, self.state.shadow_until = (saved.shadow_share,
                                                                saved.shadow_until)
            self._schedule_expiry()
        for slot in ("stable", "canary", "previous", SHADOW):
            if slot == SHADOW and not restore_shadow:
                continue
            saved_slot = saved.slot(slot)
            uri = saved_slot.model_uri
            if slot != "previous" and not uri and saved_slot.status in ("loading", "failed"):
                uri = saved_slot.requested_uri  # it was on its way in when we stopped
            if uri:
                self._start_load(slot, uri, shift=False)
        expired = {} if restore_shadow else {"shadow_expired": saved.slot(SHADOW).model_uri}
        self.store.record(self.state, "gateway", "restore", expired)

    def _retire(self, live: LiveModel | None) -> None:
        if live is not None:
            live.retire(asyncio.get_running_loop().call_later)

    def _swap(self, table: RoutingTable) -> None:
        self.table = table
        self.metrics.set_slots(table.weights(), table.models())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._expiry.cancel()
        self.load_executor.shutdown(wait=False, cancel_futures=True)
        self.shadow_executor.shutdown(wait=False, cancel_futures=True)
