"""Micro-batching merges concurrent requests and isolates a failing one; state writes are atomic."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from ml_actions.errors import ConfigurationError
from ml_actions.serving.batching import MicroBatcher
from ml_actions.serving.state_store import StateStore
from ml_actions.targets.base import SlotState, TargetState


def run(coro):
    return asyncio.run(coro)


def frame(*amounts: float) -> pd.DataFrame:
    return pd.DataFrame({"TX_AMOUNT": list(amounts)})


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows():
    calls: list[int] = []

    def score(rows: pd.DataFrame) -> np.ndarray:
        calls.append(len(rows))
        if (rows.TX_AMOUNT < 0).any():
            raise ValueError("negative")
        return rows.TX_AMOUNT.to_numpy() / 100

    async def main():
        with ThreadPoolExecutor(2) as pool:
            batcher = MicroBatcher(score, pool, max_rows=64, max_wait_s=0.05)
            results = await asyncio.gather(*(batcher.score(frame(i, i + 1)) for i in range(10)))
            mixed = await asyncio.gather(batcher.score(frame(5)), batcher.score(frame(-1)),
                                         batcher.score(frame(7)), return_exceptions=True)
            batcher.close()
            after = await batcher.score(frame(9))  # released mid-flight: scored alone
            return results, mixed, after

    results, mixed, after = run(main())
    for i, scores in enumerate(results):
        assert scores.tolist() == pytest.approx([i / 100, (i + 1) / 100])
    assert calls[0] == 20  # ten requests, one call
    assert mixed[0].tolist() == [0.05] and mixed[2].tolist() == [0.07]
    assert isinstance(mixed[1], ValueError)  # only the bad request fails
    assert after.tolist() == [0.09]


def test_batches_stop_at_max_rows():
    calls: list[int] = []

    def score(rows):
        calls.append(len(rows))
        return np.zeros(len(rows))

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(score, pool, max_rows=4, max_wait_s=0.05,
                                   on_batch=lambda n: None)
            await asyncio.gather(*(batcher.score(frame(1, 2)) for _ in range(5)))

    run(main())
    assert sum(calls) == 10 and max(calls) <= 4


def test_state_round_trip_and_atomic_replace(tmp_path):
    store = StateStore(tmp_path, history_limit=3)
    assert store.load() is None
    state = TargetState(slots={"stable": SlotState(model_uri="models:/m/1", model_name="m",
                                                   model_version="1", status="ready")})
    for weight in range(5):
        state.canary_weight = float(weight)
        store.record(state, "ci-job", "traffic", {"canary_weight": weight})
    loaded = store.load()
    assert loaded.canary_weight == 4.0 and loaded.updated_by == "ci-job"
    assert loaded.slot("stable").model_uri == "models:/m/1"
    assert [h["canary_weight"] for h in loaded.history] == [2, 3, 4]  # capped
    assert [p.name for p in tmp_path.iterdir()] == ["gateway-state.json"]  # no temp files left
    assert json.loads(store.path.read_text())["canary_weight"] == 4.0


def test_corrupt_state_file_says_what_to_do(tmp_path):
    (tmp_path / "gateway-state.json").write_text("{half")
    with pytest.raises(ConfigurationError, match="move it away"):
        StateStore(tmp_path).load()
