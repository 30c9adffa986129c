"""Generated traffic: keyed scoring requests at a steady rate, counted per phase of the story.

Workers post one transaction each to `POST /invocations` (MLflow's scoring protocol) with the
customer as routing key, so a customer sees one model at a given weight. Every response is
counted under the current phase by status and by the model version that served it; a failed
request is a 5xx or no answer at all.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
import pandas as pd


@dataclass
class PhaseCounts:
    """What one phase of the story served."""

    sent: int = 0
    failed: int = 0
    client_errors: int = 0
    by_version: Counter = field(default_factory=Counter)


class TrafficGenerator:
    """`rate` requests per second spread over `workers` threads, until `stop()`."""

    def __init__(self, url: str, rows: pd.DataFrame, key_column: str | None, rate: float = 100.0,
                 workers: int = 8):
        self.url = url.rstrip("/") + "/invocations"
        self.records = rows.to_dict(orient="records")
        self.keys = rows[key_column].astype(str).tolist() if key_column in rows else None
        self.feature_rows = [{k: v for k, v in r.items() if k != key_column}
                             for r in self.records]
        self.delay = workers / rate
        self.workers = workers
        self.phase = "warm-up"
        self.counts: dict[str, PhaseCounts] = defaultdict(PhaseCounts)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> TrafficGenerator:
        for n in range(self.workers):
            thread = threading.Thread(target=self._loop, args=(n,), daemon=True,
                                      name=f"traffic-{n}")
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def set_phase(self, name: str) -> None:
        self.phase = name

    def _loop(self, n: int) -> None:
        i = n
        with httpx.Client(timeout=10.0) as client:
            while not self.stopping.is_set():
                started = time.monotonic()
                row = self.feature_rows[i % len(self.feature_rows)]
                headers = {"X-Routing-Key": self.keys[i % len(self.keys)]} if self.keys else {}
                phase = self.phase
                try:
                    resp = client.post(self.url, json={"dataframe_records": [row]},
                                       headers=headers)
                    status, version = resp.status_code, resp.headers.get("X-Model-Version", "?")
                except httpx.HTTPError:
                    status, version = 599, "?"
                with self.lock:
                    counts = self.counts[phase]
                    counts.sent += 1
                    counts.failed += status >= 500
                    counts.client_errors += 400 <= status < 500
                    counts.by_version[version] += 1
                i += self.workers
                time.sleep(max(0.0, self.delay - (time.monotonic() - started)))

    def snapshot(self, phase: str) -> PhaseCounts:
        with self.lock:
            return self.counts.get(phase, PhaseCounts())
