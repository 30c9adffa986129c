"""Routing: the observed canary share matches the weight, and a key always lands the same."""

from __future__ import annotations

import math
import random

import pytest

from ml_actions.serving.routing import CANARY, STABLE, bucket_of, choose_slot, routing_key_of


def binomial_bound(n: int, p: float, sigmas: float = 4.0) -> float:
    """Allowed |observed - expected| share: 4 standard deviations (false alarm ~6e-5)."""
    return sigmas * math.sqrt(p * (1 - p) / n)


def test_20000_keyed_requests_at_5_percent_match_the_weight():
    keys = [f"customer-{i}" for i in range(20_000)]
    share = sum(choose_slot(k, 5.0) == CANARY for k in keys) / len(keys)
    assert abs(share - 0.05) <= binomial_bound(len(keys), 0.05)
    assert share > 0  # a split that sends nothing to the canary is not a split


@pytest.mark.parametrize("weight", [1.0, 25.0, 50.0, 90.0])
def test_share_matches_other_weights(weight):
    keys = [str(i) for i in range(20_000)]
    share = sum(choose_slot(k, weight) == CANARY for k in keys) / len(keys)
    assert abs(share - weight / 100) <= binomial_bound(len(keys), weight / 100)


def test_a_key_is_sticky_and_raising_the_weight_only_moves_customers_to_canary():
    keys = [f"c{i}" for i in range(2000)]
    at5 = {k: choose_slot(k, 5.0) for k in keys}
    assert all(choose_slot(k, 5.0) == at5[k] for k in keys)  # same answer every time
    at25 = {k: choose_slot(k, 25.0) for k in keys}
    assert all(at25[k] == CANARY for k in keys if at5[k] == CANARY)
    assert sum(v == CANARY for v in at25.values()) > sum(v == CANARY for v in at5.values())


def test_bucket_is_a_stable_hash_not_pythons_salted_hash():
    # Fixed expectations: the same key maps to the same bucket in every process and release.
    assert bucket_of("customer-42") == pytest.approx(bucket_of("customer-42"))
    assert 0 <= bucket_of("") < 100
    import hashlib
    digest = hashlib.sha256(b"customer-42").digest()
    assert bucket_of("customer-42") == int.from_bytes(digest[:8], "big") / 2 ** 64 * 100


def test_unkeyed_requests_split_at_random_with_the_weight():
    rng = random.Random(7)
    n = 20_000
    share = sum(choose_slot(None, 5.0, rng.random) == CANARY for _ in range(n)) / n
    assert abs(share - 0.05) <= binomial_bound(n, 0.05)


def test_weight_edges():
    assert choose_slot("k", 0.0) == STABLE
    assert choose_slot("k", 100.0) == CANARY
    assert choose_slot(None, 0.0) == STABLE


def test_routing_key_header_wins_over_field():
    assert routing_key_of("h1", {"CUSTOMER_ID": 7}, "CUSTOMER_ID") == "h1"
    assert routing_key_of(None, {"CUSTOMER_ID": 7}, "CUSTOMER_ID") == "7"
    assert routing_key_of(None, {"CUSTOMER_ID": float("nan")}, "CUSTOMER_ID") is None
    assert routing_key_of(None, {"OTHER": 1}, "CUSTOMER_ID") is None
    assert routing_key_of(None, {"CUSTOMER_ID": 7}, None) is None
