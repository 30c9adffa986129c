"""Load for the gateway benchmarks: open-loop (a fixed schedule whatever the answers'
latency) or closed-loop clients, from a child process so the generator's own work is not
measured in the process that reads the results.

aiohttp, with the bodies encoded once: httpx took ~2.3 ms of CPU per request on this 2-core
machine, so a generator built on it could not offer 1 000 req/s, whatever the server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing as mp
import random
import time

MAX_IN_FLIGHT = 200  # open loop: beyond this many outstanding requests, count as shed


def _generate(url: str, rate: float | None, seconds: float, payloads: list[dict], out,
              concurrency: int = 16, total: int = 0, done=None) -> None:
    """Open loop at `rate` req/s for `seconds`, or (rate None) `concurrency` clients in a
    closed loop until `total` requests have been sent and the `done` event is set."""
    import aiohttp

    bodies = [json.dumps(payload).encode() for payload in payloads]

    async def main():
        results = []
        in_flight = 0
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(url, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=30)) as client:
            async def one(body, key):
                nonlocal in_flight
                if rate is not None and in_flight >= MAX_IN_FLIGHT:  # saturated: shed load
                    results.append((time.time(), 0.0, "shed", ""))
                    return
                in_flight += 1
                sent = time.time()
                started = time.perf_counter()
                try:
                    async with client.post("/invocations", data=body, headers={
                            "Content-Type": "application/json", "X-Routing-Key": key}) as answer:
                        await answer.read()
                        status = answer.status
                        variant = answer.headers.get("X-Model-Variant", "")
                except (aiohttp.ClientError, TimeoutError) as err:
                    status, variant = f"error:{type(err).__name__}", ""
                in_flight -= 1
                results.append((sent, time.perf_counter() - started, status, variant))

            start = time.perf_counter()
            if rate is None:
                counter = itertools.count()

                async def worker():
                    for i in counter:
                        if i >= total and done.is_set():
                            return
                        await one(random.choice(bodies), f"c{i}")

                await asyncio.gather(*(worker() for _ in range(concurrency)))
            else:
                tasks = []
                for i in range(int(rate * seconds)):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(one(random.choice(bodies), f"c{i}")))
                await asyncio.gather(*tasks)
            return results, time.perf_counter() - start

    out.put(asyncio.run(main()))


class LoadGenerator:
    """Load from a child process; `join()` returns ([(sent_at, latency, status, variant)], s)."""

    def __init__(self, url: str, rate: float | None, seconds: float, payloads: list[dict],
                 total: int = 0):
        context = mp.get_context("spawn")
        self.queue = context.Queue()
        self.done = context.Event()
        self.process = context.Process(target=_generate, args=(url, rate, seconds, payloads,
                                                               self.queue, 16, total, self.done))
        self.process.start()

    def join(self):
        self.done.set()
        results, elapsed = self.queue.get(timeout=1800)
        self.process.join(timeout=30)
        return results, elapsed
