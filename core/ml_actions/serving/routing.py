"""Which slot serves a request: a weighted split that is sticky per routing key.

A key (customer id) is hashed with SHA-256 into a bucket in [0, 100); the request goes to the
canary when its bucket is below the canary weight. The hash is stable across processes and
restarts (Python's `hash()` is salted per process, so it would re-shuffle customers on every
restart), and raising the weight only moves customers from stable to canary, never back.
Requests without a key are split at random with the same weight.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from ml_actions.serving_contract import CANARY, ROUTING_GROUPS, STABLE

__all__ = ["BUCKETS", "CANARY", "STABLE", "bucket_of", "choose_slot", "group_of",
           "routing_key_of"]

BUCKETS = 100.0
_SCALE = float(2 ** 64)


def bucket_of(key: str) -> float:
    """The key's fixed position in [0, 100), from the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE * BUCKETS


def group_of(key: str | None, draw: Callable[[], float] = random.random) -> str:
    """The routing group of a key: a second, independent hash, so every group holds canary and
    stable customers alike; requests without a key (independent anyway) spread at random."""
    if key is None:
        return str(int(draw() * ROUTING_GROUPS) % ROUTING_GROUPS)
    digest = hashlib.sha256(b"group:" + key.encode("utf-8")).digest()
    return str(int.from_bytes(digest[:4], "big") % ROUTING_GROUPS)


def choose_slot(key: str | None, canary_weight: float,
                draw: Callable[[], float] = random.random) -> str:
    """`canary` for `canary_weight` % of keys (or of unkeyed requests), else `stable`."""
    if canary_weight <= 0:
        return STABLE
    if canary_weight >= BUCKETS:
        return CANARY
    position = bucket_of(key) if key is not None else draw() * BUCKETS
    return CANARY if position < canary_weight else STABLE


def routing_key_of(header: str | None, first_row: dict | None, field: str | None) -> str | None:
    """The X-Routing-Key header, else the configured field of the request's first row."""
    if header:
        return header
    if field and first_row is not None:
        value = first_row.get(field)
        if value is not None and value == value:  # NaN is not a key
            return str(value)
    return None
