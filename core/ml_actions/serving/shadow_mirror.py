"""After an answer: mirror the request to the shadow model, then hand the record to the log.

Why off the response path: customers must see only the champion's answers at the champion's
latency, so the candidate's evidence costs them nothing. The answer is sent first; the shadow
scores the same rows later in a background task, on its own threads (`gateway.shadow_threads`),
batched like any slot. At most `gateway.shadow_queue_size` mirrored requests wait or run at
once; beyond it a request is not mirrored (outcome `dropped`, counted), never queued without
bound. Which requests are mirrored is a hash of the request id under `shadow_share`, so a
replay with the same ids mirrors the same requests.

Each answered request becomes one `PredictionEntry`; it is given to the prediction log once
its shadow result is known, or at once (null shadow fields) when no shadow scores it or the
shadow dropped, refused or failed it.

`ml_gateway_shadow_duration_seconds` is the shadow model's own scoring time: the duration of
the model call that scored the request's rows, without the wait for company in its batch
(`gateway.shadow_batch_wait_ms`) or behind other batches. The shadow's batcher is built on
`timed_scorer`, whose scores carry their call's duration (`TimedScores.seconds`) through the
batcher's slicing to every request of the batch. That makes the shadow's time comparable with
what the same model costs on the response path, which the shadow phase's latency check uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ml_actions.serving.batching import Scorer
from ml_actions.serving.gateway_metrics import GatewayMetrics
from ml_actions.serving.prediction_record import PredictionEntry
from ml_actions.serving.protocols import RequestError
from ml_actions.serving.slots import LiveModel
from ml_actions.serving_contract import TargetState

log = logging.getLogger("ml_actions.gateway")
_SCALE = float(2 ** 64)


def sampled(request_id: str, share: float) -> bool:
    """True for a fixed `share` of request ids (SHA-256, independent of the routing hash)."""
    if share >= 1.0:
        return True
    digest = hashlib.sha256(b"shadow:" + request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE < share


class TimedScores(np.ndarray):
    """Scores that remember how long the model call that made them took (`seconds`).

    A subclass rather than a second return value so that the batcher, which slices one call's
    scores among its requests, passes the time along untouched: slices keep `seconds`."""

    seconds: float | None = None

    def __array_finalize__(self, obj: object) -> None:
        self.seconds = getattr(obj, "seconds", None)


def timed_scorer(score: Scorer) -> Scorer:
    """`score`, timed: its scores are `TimedScores` carrying the call's own duration."""
    def timed(frame: pd.DataFrame) -> np.ndarray:
        started = time.perf_counter()
        scores = np.asarray(score(frame)).view(TimedScores)
        scores.seconds = time.perf_counter() - started
        return scores
    return timed


def scoring_seconds(scores: object) -> float | None:
    """The own scoring time `scores` carry; None when they were not made by `timed_scorer`."""
    return getattr(scores, "seconds", None)


class ShadowMirror:
    def __init__(self, metrics: GatewayMetrics, queue_size: int,
                 record: Callable[[PredictionEntry], object] | None):
        self.metrics = metrics
        self.queue_size = queue_size
        self.record = record  # None: no prediction log
        self.in_flight = 0
        self._tasks: set[asyncio.Task] = set()

    @property
    def wanted(self) -> bool:
        """Whether answers need an entry at all (a log to write, or maybe a shadow)."""
        return self.record is not None

    def shadow_for(self, shadow: LiveModel | None, state: TargetState,
                   request_id: str) -> LiveModel | None:
        """The shadow model if this request is to be mirrored now."""
        if shadow is None or state.shadow_share <= 0:
            return None
        if state.shadow_until is not None and time.time() >= state.shadow_until:
            return None  # expired; the manager's timer unloads it
        return shadow if sampled(request_id, state.shadow_share) else None

    def after_answer(self, entry: PredictionEntry, frame: pd.DataFrame,
                     shadow: LiveModel | None, group: str) -> None:
        """Mirror `frame` to `shadow` (if any) and log `entry` when its shadow part is known."""
        if shadow is None:
            self._log(entry)
            return
        version = shadow.model.version
        if self.in_flight >= self.queue_size:
            self.metrics.shadow_requests.labels(version, "dropped").inc()
            self._log(entry)
            return
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(self._score(shadow, frame, entry, group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _score(self, shadow: LiveModel, frame: pd.DataFrame, entry: PredictionEntry,
                     group: str) -> None:
        version = shadow.model.version
        try:
            scores = await shadow.batcher.score(shadow.model.prepare(frame))
            own_seconds = scoring_seconds(scores)
            values = [float(v) for v in scores]
            if len(values) != entry.rows:
                raise ValueError(f"{len(values)} scores for {entry.rows} rows")
        except RequestError:
            self.metrics.shadow_requests.labels(version, "rejected").inc()
        except asyncio.CancelledError:
            self.metrics.shadow_requests.labels(version, "dropped").inc()
            raise
        except Exception as err:  # noqa: BLE001 - the shadow's failure is evidence, not ours
            log.debug("shadow %s failed a request: %s", version, err)
            self.metrics.shadow_requests.labels(version, "error").inc()
        else:
            self.metrics.shadow_requests.labels(version, "scored").inc()
            if own_seconds is not None:  # a batcher built without `timed_scorer`: unknown
                self.metrics.shadow_duration.labels(version).observe(own_seconds)
            self.metrics.observe_shadow_pairs(version, entry.scores, values, entry.threshold,
                                              group)
            entry.shadow_version, entry.shadow_scores = version, values
        finally:
            self.in_flight -= 1
            self._log(entry)

    def _log(self, entry: PredictionEntry) -> None:
        if self.record is not None:
            self.record(entry)

    async def close(self, timeout: float = 10.0) -> None:
        """Let mirrored requests finish for up to `timeout` s; the rest are logged unshadowed."""
        pending = list(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
