"""The shadow's own scoring time: the model call that scored a request, without its batch wait.

`ml_gateway_shadow_duration_seconds` used to time the whole `await` on the shadow's batcher,
which includes `gateway.shadow_batch_wait_ms` (100 ms by default) of waiting for company, so
a fast shadow looked 100 ms slow. These tests run the real `MicroBatcher` with a long wait and
check that every request of a batch learns its batch's call time and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ml_actions.serving.batching import MicroBatcher
from ml_actions.serving.shadow_mirror import TimedScores, scoring_seconds, timed_scorer

CALL_SECONDS = 0.05
WAIT_SECONDS = 0.4


def slow_model(frame: pd.DataFrame) -> np.ndarray:
    time.sleep(CALL_SECONDS)
    return frame["x"].to_numpy(dtype=float) / 10.0


def test_slices_of_timed_scores_keep_their_call_time():
    scores = timed_scorer(slow_model)(pd.DataFrame({"x": [1, 2, 3, 4]}))
    assert isinstance(scores, TimedScores)
    assert CALL_SECONDS <= scores.seconds < CALL_SECONDS + 0.05
    part = scores[1:3]
    assert scoring_seconds(part) == scores.seconds and part.tolist() == [0.2, 0.3]
    assert [float(v) for v in part] == [0.2, 0.3]
    assert scoring_seconds(np.array([0.1])) is None  # not timed: unknown, never guessed


def test_each_request_of_a_batch_gets_the_call_time_not_its_wait_for_company():
    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(timed_scorer(slow_model), pool, max_rows=100,
                                   max_wait_s=WAIT_SECONDS)
            started = time.perf_counter()
            frames = [pd.DataFrame({"x": [i, i + 1]}) for i in range(3)]
            answers = await asyncio.gather(*(batcher.score(f) for f in frames))
            waited = time.perf_counter() - started
            batcher.close()
            return answers, waited

    answers, waited = asyncio.run(scenario())
    assert waited >= WAIT_SECONDS  # the batch waited for company ...
    assert [a.tolist() for a in answers] == [[0.0, 0.1], [0.1, 0.2], [0.2, 0.3]]
    seconds = {scoring_seconds(a) for a in answers}
    assert len(seconds) == 1  # ... one call scored all three requests ...
    own = seconds.pop()
    assert CALL_SECONDS <= own < WAIT_SECONDS / 2  # ... and each was charged only the call
