"""``adimple worker``: runs sending loops until stopped (or, with ``--once``, until nothing is due).

Several workers may run at once, on one machine or many: PostgreSQL hands each claim different
rows (``FOR UPDATE SKIP LOCKED``); SQLite serialises claims and results on its single writer.
Inside one process, ``concurrency`` threads each run their own loop with their own adapters.

SIGTERM/SIGINT stop gracefully: each thread finishes the row in flight, gives back the rows it
claimed and did not send (they are due again at once) and exits.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from adimple.db.base import utcnow
from adimple.db.engine import session_factory
from adimple.messaging.dispatcher import (
    AdapterFactory,
    Clock,
    DispatchConfig,
    Dispatcher,
    DispatchStats,
    RateLimiters,
)

log = logging.getLogger(__name__)


class WorkerSettings(BaseSettings):
    """Defaults for ``adimple worker`` from the environment (``ADIMPLE_WORKER_*``)."""

    model_config = SettingsConfigDict(env_prefix="ADIMPLE_WORKER_", env_file=".env", extra="ignore")

    batch: int = 100
    concurrency: int = 1
    max_attempts: int = 8
    poll: float = 1.0
    lease: float = 120.0  # seconds a claim is held before another worker may take it over
    send_timeout: float = 30.0
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    # "smtp=20,http=100": messages per second per provider (adapter name), per worker process.
    rate_limits: str = ""


def parse_rate_limits(text: str) -> dict[str, float]:
    """``"smtp=20, http=100"`` → ``{"smtp": 20.0, "http": 100.0}``."""
    limits: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"rate limit '{part}' is not NAME=PER_SECOND")
        rate = float(value)
        if rate <= 0:
            raise ValueError(f"rate limit for '{name.strip()}' must be positive")
        limits[name.strip()] = rate
    return limits


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def shifted_clock(as_of: datetime) -> Clock:
    """A clock that starts at ``as_of`` and runs at real speed (simulations and the demo)."""
    started = time.monotonic()
    return lambda: as_of + timedelta(seconds=time.monotonic() - started)


def process_clock(as_of: datetime) -> Clock:
    """A clock that read ``as_of`` when this *process* started and runs at real speed.

    ``adimple worker --as-of``: workers started one after the other from one timeline (the
    fault test's, a simulation's) must agree on the time, because one judges the others'
    leases by it. Anchored at the end of start-up instead, each clock would lag by its own
    start-up time — seconds on a loaded machine — and a worker ahead of another would take
    over that one's claims while they are still being sent.
    """
    return shifted_clock(as_of + timedelta(seconds=seconds_since_process_start()))


def seconds_since_process_start() -> float:
    """How long ago this process started (Linux: ``/proc``, 10 ms ticks; elsewhere 0)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        # Field 22, ``starttime``, in clock ticks since boot; the name in field 2 may hold
        # spaces, so count from the closing parenthesis.
        started = int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def settle_process() -> None:
    """For a worker *process* (``adimple worker``), once its start-up is done: imports what
    the sending loop would import on its first batch, then freezes every object alive so far
    out of the cyclic garbage collector's reach and makes its young-generation collections
    rarer. A sending loop allocates much and keeps little; the collector kept walking the
    tens of thousands of start-up objects (modules, SQLAlchemy's mappings) — about 7 % of a
    worker's CPU (docs/benchmarks.md "Dispatch", session 5). Not for a process that does
    other work too (tests, ``adimple run``): it changes the whole process."""
    import gc

    from adimple.compliance import service as _compliance  # noqa: F401
    from adimple.messaging import channels as _channels  # noqa: F401
    from adimple.messaging import render

    render.preload()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


@dataclass
class WorkerResult:
    worker_id: str
    stats: DispatchStats
    errors: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "worker_id": self.worker_id,
            **self.stats.as_dict(),
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }


def run_worker(
    engine: Engine,
    *,
    config: DispatchConfig,
    concurrency: int = 1,
    once: bool = False,
    poll: float = 1.0,
    worker_id: str | None = None,
    clock: Clock = utcnow,
    stop: threading.Event | None = None,
    adapters: AdapterFactory | None = None,
    on_batch: Callable[[DispatchStats], None] | None = None,
) -> WorkerResult:
    """Runs ``concurrency`` sending loops until ``stop`` is set (or, ``once``, nothing is due).

    A database or adapter error in a loop is logged and retried after ``poll`` seconds: the
    worker keeps going through outages. In ``once`` mode an error ends that loop instead.
    """
    worker_id = worker_id or make_worker_id()
    stop = stop or threading.Event()
    sessions = session_factory(engine)
    limiters = RateLimiters(config.rate_limits)
    started = time.monotonic()
    totals = DispatchStats()
    errors = 0
    lock = threading.Lock()

    def loop(index: int) -> None:
        nonlocal errors
        dispatcher = Dispatcher(
            sessions,
            worker_id=worker_id if concurrency == 1 else f"{worker_id}/{index}",
            config=config,
            clock=clock,
            limiters=limiters,
            stop=stop,
            adapters=adapters,
        )
        try:
            while not stop.is_set():
                try:
                    claimed = dispatcher.run_batch()
                except Exception:
                    log.exception("worker loop %s: batch failed", dispatcher.worker_id)
                    with lock:
                        errors += 1
                    if once:
                        return
                    stop.wait(poll)
                    continue
                if on_batch is not None and claimed:
                    on_batch(dispatcher.stats)
                if not claimed:
                    if once:
                        return
                    stop.wait(poll)
        finally:
            dispatcher.close()
            with lock:
                totals.add(dispatcher.stats)

    threads = [
        threading.Thread(target=loop, args=(i,), name=f"adimple-worker-{i}", daemon=True)
        for i in range(max(1, concurrency))
    ]
    for thread in threads:
        thread.start()
    # Join with a timeout so the main thread keeps running signal handlers.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.2)
    return WorkerResult(worker_id, totals, errors, time.monotonic() - started)
