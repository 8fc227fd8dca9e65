"""Pure parts of the dispatcher: backoff with jitter, token buckets, the timed caller, settings."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adimple.messaging.dispatcher import (
    RateLimiters,
    SendTimeout,
    TimedCaller,
    TokenBucket,
    backoff_delay,
)
from adimple.messaging.worker import parse_rate_limits


class TestBackoff:
    @given(
        attempts=st.integers(min_value=1, max_value=10_000),
        base=st.floats(min_value=0.1, max_value=600),
        cap=st.floats(min_value=1, max_value=86_400),
        seed=st.integers(),
    )
    def test_between_half_and_all_of_the_capped_exponential(
        self, attempts: int, base: float, cap: float, seed: int
    ) -> None:
        delay = backoff_delay(attempts, base=base, cap=cap, rng=random.Random(seed))
        raw = min(cap, base * 2.0 ** min(attempts - 1, 40))
        assert timedelta(seconds=raw / 2) <= delay <= timedelta(seconds=raw)

    def test_doubles_until_the_cap(self) -> None:
        class Top(random.Random):
            def uniform(self, a: float, b: float) -> float:
                return b

        delays = [
            backoff_delay(n, base=30, cap=3600, rng=Top()).total_seconds() for n in (1, 2, 3, 8, 9)
        ]
        assert delays == [30, 60, 120, 3600, 3600]

    def test_jitter_spreads_retries(self) -> None:
        rng = random.Random(1)
        delays = {backoff_delay(3, base=30, cap=3600, rng=rng) for _ in range(50)}
        assert len(delays) > 40


class TestTokenBucket:
    def test_burst_then_rate(self) -> None:
        bucket = TokenBucket(rate=50, burst=5)
        started = time.monotonic()
        for _ in range(5):
            bucket.acquire()
        assert time.monotonic() - started < 0.05  # the burst is free
        for _ in range(10):
            bucket.acquire()
        # 10 more at 50/s need about 0.2 s.
        assert time.monotonic() - started >= 0.15

    def test_shared_between_threads(self) -> None:
        limiters = RateLimiters({"smtp": 100.0})
        started = time.monotonic()

        def take() -> None:
            for _ in range(25):
                limiters.acquire("smtp")

        threads = [threading.Thread(target=take) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # 100 sends fit in the burst of 100 (capacity = one second of rate): no waiting.
        assert time.monotonic() - started < 1.5
        limiters.acquire("unlimited-provider")  # no bucket: never waits

    def test_rejects_nonsense(self) -> None:
        with pytest.raises(ValueError):
            TokenBucket(rate=0)


class TestTimedCaller:
    def test_returns_raises_and_times_out_without_stalling(self) -> None:
        caller = TimedCaller()
        assert caller.call(lambda: 42, timeout=1) == 42
        with pytest.raises(KeyError):
            caller.call(lambda: {}["missing"], timeout=1)
        release = threading.Event()
        started = time.monotonic()
        with pytest.raises(SendTimeout):
            caller.call(lambda: release.wait(10), timeout=0.2)
        assert time.monotonic() - started < 1
        # The next call runs on a fresh thread while the stuck one is still waiting.
        assert caller.call(lambda: "next", timeout=1) == "next"
        release.set()
        caller.close()


class TestSettings:
    def test_parse_rate_limits(self) -> None:
        assert parse_rate_limits("") == {}
        assert parse_rate_limits("smtp=20, generic_http=100.5") == {
            "smtp": 20.0,
            "generic_http": 100.5,
        }

    @pytest.mark.parametrize("text", ["smtp", "=3", "smtp=0", "smtp=-1", "smtp=fast"])
    def test_bad_rate_limits(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_rate_limits(text)
