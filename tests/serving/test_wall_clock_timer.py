"""The wall-clock timer behind the canary lease and the shadow's `until`."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from ml_actions.serving.wall_clock_timer import WallClockTimer

RUNNERS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_an_early_fire_waits_for_the_deadline_then_acts_once(loop):
    calls: list[float] = []

    async def scenario() -> None:
        timer = WallClockTimer(lambda: calls.append(time.time()))
        deadline = time.time() + 0.3
        timer.arm(deadline)
        timer.fire()  # what a millisecond-rounded loop timer may do: fire before the deadline
        assert calls == [] and timer.armed
        await asyncio.sleep(0.6)
        assert len(calls) == 1 and calls[0] >= deadline and not timer.armed

    RUNNERS[loop](scenario())


def test_re_arming_replaces_the_deadline_and_cancel_or_none_stops_it():
    calls: list[str] = []

    async def scenario() -> None:
        timer = WallClockTimer(lambda: calls.append("fired"))
        timer.arm(time.time() + 0.1)
        timer.arm(time.time() + 0.4)  # renewed before the first deadline
        await asyncio.sleep(0.25)
        assert calls == []
        await asyncio.sleep(0.35)
        assert calls == ["fired"]
        timer.arm(time.time() + 0.1)
        timer.cancel()
        timer.arm(None)
        timer.fire()  # a stale callback after cancel does nothing
        await asyncio.sleep(0.25)
        assert calls == ["fired"] and not timer.armed

    asyncio.run(scenario())


def test_a_deadline_already_past_fires_on_the_next_turn():
    calls: list[str] = []

    async def scenario() -> None:
        WallClockTimer(lambda: calls.append("fired")).arm(time.time() - 5)
        assert calls == []
        await asyncio.sleep(0.05)
        assert calls == ["fired"]

    asyncio.run(scenario())
