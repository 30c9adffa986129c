"""Steady generated traffic for the crash tests: one thread, one request after another.

Every request's send time and outcome (HTTP status, or the connection error's type) is kept,
so a test can ask how many requests were sent after a moment (the gateway reporting ready)
and how many of those failed, and which slots answered them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

from tests.serving.gateway_client import rows, split_payload


@dataclass(frozen=True)
class Outcome:
    sent_at: float  # time.monotonic() when the request left
    status: int | str  # HTTP status, or the exception's type name
    variant: str | None  # X-Model-Variant of an answer

    @property
    def ok(self) -> bool:
        return self.status == 200


class SteadyLoad:
    """`with SteadyLoad(url) as load:` sends requests until the block ends."""

    def __init__(self, url: str, pause: float = 0.01, timeout: float = 5.0):
        self.url = url
        self.pause = pause
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, name="steady-load", daemon=True)
        self._payload = split_payload(rows(1))

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _send(self) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
            i = 0
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post("/invocations", json=self._payload,
                                           headers={"X-Routing-Key": f"customer-{i}"})
                    outcome = Outcome(sent, response.status_code,
                                      response.headers.get("X-Model-Variant"))
                except httpx.HTTPError as err:
                    outcome = Outcome(sent, type(err).__name__, None)
                self.outcomes.append(outcome)
                i += 1
                time.sleep(self.pause)

    def since(self, moment: float) -> list[Outcome]:
        """The requests sent at or after `moment` (a time.monotonic() value)."""
        return [o for o in list(self.outcomes) if o.sent_at >= moment]

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` more requests were answered (the traffic is really flowing)."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target and time.monotonic() < deadline:
            time.sleep(0.05)
