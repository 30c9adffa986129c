"""Nobody waits forever: a dead batch task fails its requests, a hung model times them out."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from starlette.testclient import TestClient

from ml_actions.config.gateway import GatewayConfig
from ml_actions.serving.app import create_app
from ml_actions.serving.batching import BatcherStopped, MicroBatcher, ScoringTimeout
from ml_actions.serving.model_loading import ModelRef, ServedModel
from tests.serving.gateway_client import metric_value

TOKEN = "batcher-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def frame(*amounts: float) -> pd.DataFrame:
    return pd.DataFrame({"TX_AMOUNT": list(amounts)})


def records(amount: float) -> dict:
    return {"dataframe_records": [{"TX_AMOUNT": amount}]}


def halve(rows: pd.DataFrame) -> np.ndarray:
    return rows.TX_AMOUNT.to_numpy() / 2


def test_a_dead_batch_task_fails_its_waiting_requests_and_the_next_one_starts_afresh():
    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(halve, pool, max_rows=64, max_wait_s=0.05)
            real_execute = batcher._execute

            async def broken(batch):
                raise RuntimeError("bug in the batch loop")

            batcher._execute = broken
            waiting = [batcher.score(frame(i)) for i in range(3)]
            failed = await asyncio.wait_for(
                asyncio.gather(*waiting, return_exceptions=True), 5)
            dead_task = batcher._task
            batcher._execute = real_execute
            after = await asyncio.wait_for(batcher.score(frame(8)), 5)
            return failed, dead_task, after, batcher._task

    failed, dead_task, after, task = asyncio.run(main())
    assert [type(err) for err in failed] == [RuntimeError] * 3
    assert all("bug in the batch loop" in str(err) for err in failed)
    assert dead_task is None  # cleared at once, so the next request started a new task
    assert after.tolist() == [4.0] and task is not None


def test_a_cancelled_batch_task_fails_its_waiting_requests_and_the_next_one_starts_afresh():
    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(halve, pool, max_rows=64, max_wait_s=5.0)  # long wait
            waiting = asyncio.gather(*(batcher.score(frame(i)) for i in range(2)),
                                     return_exceptions=True)
            await asyncio.sleep(0.05)  # both are queued, the task waits for company
            first_task = batcher._task
            first_task.cancel()
            failed = await asyncio.wait_for(waiting, 5)
            batcher.max_wait_s = 0.0
            after = await asyncio.wait_for(batcher.score(frame(6)), 5)
            return failed, first_task, batcher._task, after

    failed, first_task, task, after = asyncio.run(main())
    assert [type(err) for err in failed] == [BatcherStopped, BatcherStopped]
    assert task is not first_task and after.tolist() == [3.0]


def test_a_hung_model_times_out_and_a_request_that_timed_out_in_the_queue_is_not_scored():
    release = threading.Event()
    calls: list[list[float]] = []

    def hangs_on_big_amounts(rows: pd.DataFrame) -> np.ndarray:
        calls.append(rows.TX_AMOUNT.tolist())
        if (rows.TX_AMOUNT > 1000).any():
            release.wait(10)
        return halve(rows)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(hangs_on_big_amounts, pool, max_rows=64, max_wait_s=0.0,
                                   timeout_s=0.3)
            started = time.monotonic()
            hung = asyncio.ensure_future(batcher.score(frame(5000)))
            await asyncio.sleep(0.05)  # the model now hangs on that batch
            queued = asyncio.ensure_future(batcher.score(frame(1)))
            outcomes = await asyncio.gather(hung, queued, return_exceptions=True)
            waited = time.monotonic() - started
            release.set()
            after = await asyncio.wait_for(batcher.score(frame(2)), 5)
            return outcomes, waited, after

    try:
        outcomes, waited, after = asyncio.run(main())
    finally:
        release.set()
    assert [type(o) for o in outcomes] == [ScoringTimeout, ScoringTimeout]
    assert "request_timeout_seconds" in str(outcomes[0])
    assert waited < 3.0  # 0.3 s each, not the model's 10 s
    assert after.tolist() == [1.0]
    assert calls == [[5000.0], [2.0]]  # the request that timed out in the queue never ran


def test_a_timed_out_request_answers_504_with_a_reason_and_is_counted(tmp_path):
    release = threading.Event()

    def predict(rows: pd.DataFrame) -> np.ndarray:
        if (rows.TX_AMOUNT > 1000).any():  # warm-up rows are small: the model loads
            release.wait(10)
        return np.full(len(rows), 0.1)

    def loader(model_uri: str) -> ServedModel:
        return ServedModel(ModelRef("m", "1"), "pyfunc", predict, [("TX_AMOUNT", "double")],
                           None)

    config = GatewayConfig(request_timeout_seconds=0.3, max_batch_wait_ms=0)
    try:
        with TestClient(create_app(config, tmp_path, TOKEN, loader)) as client:
            client.post("/admin/load", headers=AUTH, json={"slot": "stable", "model_uri": "m"})
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            ok = client.post("/invocations", json=records(5.0))
            timed_out = client.post("/invocations", json=records(5000.0))
            metrics = client.get("/metrics").text
    finally:
        release.set()
    assert ok.status_code == 200
    assert timed_out.status_code == 504
    assert timed_out.json()["error_code"] == "TIMEOUT"
    assert "no answer within 0.3 s" in timed_out.json()["message"]
    assert timed_out.headers["X-Model-Variant"] == "stable"
    assert metric_value(metrics, "ml_gateway_requests_total", slot="stable", code="504") == 1
    assert metric_value(metrics, "ml_gateway_request_duration_seconds_count",
                        slot="stable") == 2
