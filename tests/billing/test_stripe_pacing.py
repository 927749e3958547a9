"""Our Stripe calls stay under `STRIPE_CALLS_PER_SECOND`, counted in the shared cache, so all
workers together stay below Stripe's rate limit (`billing/stripe_gateway.py`)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import stripe

from billing import stripe_gateway
from tests.support.stripe import OPTIONS


def test_calls_beyond_the_budget_wait_for_the_next_second(settings):
    settings.STRIPE_CALLS_PER_SECOND = 5
    seconds = []
    started = time.monotonic()
    for _ in range(12):
        stripe_gateway._pace()
        seconds.append(int(time.time()))
    assert max(Counter(seconds).values()) <= 5
    assert time.monotonic() - started >= 1.0  # 12 calls at 5 a second span at least 2 seconds


def test_threads_share_the_budget(settings):
    """Four workers' worth of threads calling at once still make at most 6 calls a second."""
    settings.STRIPE_CALLS_PER_SECOND = 6
    seconds: list[int] = []
    lock = threading.Lock()

    def worker():
        for _ in range(5):
            stripe_gateway._pace()
            with lock:
                seconds.append(int(time.time()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seconds) == 20
    assert max(Counter(seconds).values()) <= 6


@pytest.mark.django_db
def test_calls_through_the_gateway_are_paced_and_zero_turns_it_off(settings, standin):
    settings.STRIPE_CALLS_PER_SECOND = 0
    started = time.monotonic()
    for _ in range(20):
        stripe_gateway._pace()  # pacing off: never waits
    assert time.monotonic() - started < 0.5
    settings.STRIPE_CALLS_PER_SECOND = 2
    stripe.Customer.list(**OPTIONS)  # the stand-in answers
    stamps = []
    for _ in range(5):
        with stripe_gateway._stripe_call("list customers"):
            stripe.Customer.list(**OPTIONS)
        stamps.append(int(time.time()))
    assert max(Counter(stamps).values()) <= 2
