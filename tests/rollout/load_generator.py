"""Steady client traffic against the gateway, recording every response, for the end-to-end
tests and the benchmark: zero failed requests must be attributable to the deploy machinery."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np

from tests.rollout.canary_models import request_rows


@dataclass
class Response:
    at: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    version: str | None
    variant: str | None


@dataclass
class LoadGenerator:
    url: str
    rate: float = 40.0
    threads: int = 4
    responses: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def start(self) -> LoadGenerator:
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, args=(i,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def _run(self, seed: int) -> None:
        rng = np.random.default_rng(seed + int(time.time()))
        period = self.threads / self.rate
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                row = request_rows(1, rng)
                body = {"dataframe_split": {"columns": list(row.columns),
                                            "data": row.values.tolist()}}
                sent = time.time()
                try:
                    r = client.post("/invocations", json=body)
                    response = Response(sent, r.status_code, r.headers.get("X-Model-Version"),
                                        r.headers.get("X-Model-Variant"))
                except httpx.HTTPError:
                    response = Response(sent, 0, None, None)
                with self._lock:
                    self.responses.append(response)
                next_at += period
                time.sleep(max(0.0, next_at - time.monotonic()))

    def since(self, start: float, end: float | None = None) -> list[Response]:
        with self._lock:
            return [r for r in self.responses if r.at >= start and (end is None or r.at <= end)]

    def failures(self, start: float, end: float | None = None,
                 faulty_versions: tuple[str, ...] = ()) -> list[Response]:
        """Failed requests not explained by a model that fails on purpose (its 5xx, or the 400
        its own input contract gives a request it cannot take)."""
        return [r for r in self.since(start, end)
                if r.status != 200 and not (r.version in faulty_versions
                                            and (r.status >= 500 or r.status == 400))]

    def versions(self, start: float, end: float | None = None) -> Counter:
        return Counter(r.version for r in self.since(start, end) if r.status == 200)
