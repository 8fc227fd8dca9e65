"""Fault test: 10,000 queued messages, three ``adimple worker`` processes SIGKILLed at random
points and restarted, on a SQLite file and on PostgreSQL. Afterwards, by the receiving
server's count, every message arrived, none twice except at most one per kill (the row whose
provider call was in flight when its worker died), and the outbox says ``sent`` for all.

Also: two workers (threads, separate connections) on 1,000 rows never send the same row, and a
SIGTERM lets a real worker process finish the row in flight and give back the rest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dispatch_helpers import OPEN_HOURS, own_database, own_engine  # noqa: F401 (fixtures)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from adimple.messaging.dispatcher import DispatchConfig
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.messaging.testing import HttpProvider, running_http_provider
from adimple.messaging.worker import run_worker, shifted_clock

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 10_000
KILLS = 6


def _bench() -> Any:
    """The set-wise seeding of ``benchmarks/dispatch.py`` (one loader for both)."""
    spec = importlib.util.spec_from_file_location("dispatch_bench", ROOT / "benchmarks/dispatch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed(engine: Engine, http: HttpProvider, messages: int) -> tuple[Any, str]:
    slug = f"faults-{random.randrange(10**8):08d}"
    tenant_id = _bench().seed_outbox(
        engine,
        messages=messages,
        channel="sms",
        provider="generic_http",
        settings={"base_url": http.url, "timeout": 5},
        slug=slug,
    )
    return tenant_id, slug


def statuses(engine: Engine, tenant_id: Any) -> Counter[str]:
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.tenant_id == tenant_id)
            .group_by(OutboxMessage.status)
        ).all()
    return Counter({str(status): count for status, count in rows})


def keys(engine: Engine, tenant_id: Any) -> set[str]:
    with Session(engine) as session:
        return set(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.tenant_id == tenant_id)
            )
        )


def claimed_by(engine: Engine, worker_id: str) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.claimed_by == worker_id)
            )
            or 0
        )


class Workers:
    """``adimple worker`` subprocesses whose clocks all run from ``OPEN_HOURS``."""

    def __init__(self, url: str, slug: str, sandbox: Path) -> None:
        self.env = os.environ | {"ADIMPLE_DATABASE_URL": url, "ADIMPLE_SANDBOX_DIR": str(sandbox)}
        self.slug = slug
        self.started = time.monotonic()
        self.generation = 0

    def start(self, name: str) -> tuple[str, subprocess.Popen[str]]:
        self.generation += 1
        worker_id = f"{name}-{self.generation}"
        as_of = OPEN_HOURS + timedelta(seconds=time.monotonic() - self.started)
        command = [
            sys.executable,
            "-m",
            "adimple.cli",
            "worker",
            "--tenant",
            self.slug,
            "--worker-id",
            worker_id,
            "--as-of",
            as_of.isoformat(),
            "--batch",
            "10",
            "--lease",
            "6",
            "--send-timeout",
            "2",
            "--poll",
            "0.2",
        ]
        process = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return worker_id, process


@pytest.mark.slow
def test_kill_nine_loses_nothing_and_duplicates_at_most_one_per_kill(
    own_database: str,  # noqa: F811
    own_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    rng = random.Random(os.getpid())
    with running_http_provider() as http:
        tenant_id, slug = seed(own_engine, http, MESSAGES)
        expected = keys(own_engine, tenant_id)
        workers = Workers(own_database, slug, tmp_path)
        running = dict(workers.start(name) for name in ("a", "b", "c"))
        kills = 0
        try:
            while kills < KILLS:
                # Kill a worker at a random moment once it is really working (has claimed).
                victim = rng.choice(sorted(running))
                deadline = time.monotonic() + 60
                while claimed_by(own_engine, victim) == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.5))
                process = running.pop(victim)
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                process.send_signal(signal.SIGKILL)
                assert process.wait(timeout=10) == -signal.SIGKILL
                kills += 1
                worker_id, replacement = workers.start(victim.split("-")[0])
                running[worker_id] = replacement
            assert statuses(own_engine, tenant_id)["queued"] > 0, "kills must land mid-run"
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if statuses(own_engine, tenant_id)["sent"] == MESSAGES:
                    break
                time.sleep(0.5)
        finally:
            outputs = []
            for process in running.values():
                process.send_signal(signal.SIGTERM)  # graceful: exits 0 with its stats
                out, err = process.communicate(timeout=60)
                assert process.returncode == 0, err
                outputs.append(json.loads(out))
        received = [r.headers.get("idempotency-key") for r in http.requests]

    assert statuses(own_engine, tenant_id) == Counter({"sent": MESSAGES})
    counts = Counter(received)
    assert set(counts) == expected  # every message arrived: none lost
    assert len(counts) == MESSAGES
    duplicates = len(received) - len(counts)
    assert duplicates <= kills, f"{duplicates} duplicates for {kills} kills"
    assert max(counts.values()) <= 2
    with Session(own_engine) as session:
        recovered = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.attempts > 1)
        )
    assert recovered, "some claims must have been taken over after a kill"
    assert all(o["errors"] == 0 for o in outputs)


def test_two_workers_never_send_the_same_row(
    own_engine: Engine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADIMPLE_SANDBOX_DIR", str(tmp_path))
    with running_http_provider() as http:
        tenant_id, _ = seed(own_engine, http, 1_000)
        config = DispatchConfig(batch=25, tenant_id=tenant_id, lease_seconds=60)
        results: dict[str, Any] = {}

        def work(name: str) -> None:
            results[name] = run_worker(
                own_engine,
                config=config,
                once=True,
                worker_id=name,
                clock=shifted_clock(OPEN_HOURS),
            )

        threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        received = Counter(r.headers.get("idempotency-key") for r in http.requests)

    assert len(received) == 1_000
    assert max(received.values()) == 1  # not one row twice
    assert statuses(own_engine, tenant_id) == Counter({"sent": 1_000})
    assert results["one"].stats.sent + results["two"].stats.sent == 1_000
    # Both really took part (each claimed and sent its own share).
    with Session(own_engine) as session:
        senders = dict(
            session.execute(
                select(OutboxMessage.claimed_by, func.count())
                .where(OutboxMessage.tenant_id == tenant_id)
                .group_by(OutboxMessage.claimed_by)
            ).all()
        )
    assert set(senders) == {"one", "two"}, senders


def test_sigterm_finishes_the_row_in_flight_and_gives_back_the_rest(
    own_database: str,  # noqa: F811
    own_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    with running_http_provider() as http:
        tenant_id, slug = seed(own_engine, http, 5)
        for n in range(5):
            http.behave(f"+55119{n:08d}", "hang")
        command = [
            sys.executable,
            "-m",
            "adimple.cli",
            "worker",
            "--tenant",
            slug,
            "--worker-id",
            "graceful",
            "--as-of",
            OPEN_HOURS.isoformat(),
            "--batch",
            "5",
            "--send-timeout",
            "3",
            "--lease",
            "60",
        ]
        env = os.environ | {
            "ADIMPLE_DATABASE_URL": own_database,
            "ADIMPLE_SANDBOX_DIR": str(tmp_path),
        }
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while not http.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.requests, "the worker never reached the provider"
        process.send_signal(signal.SIGTERM)  # while the first send hangs
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    stats = json.loads(out)
    assert (stats["claimed"], stats["retried"], stats["released"]) == (5, 1, 4)
    with Session(own_engine) as session:
        rows = session.execute(
            select(OutboxMessage.attempts, OutboxMessage.claimed_by)
            .where(
                OutboxMessage.tenant_id == tenant_id, OutboxMessage.status == OutboxStatus.QUEUED
            )
            .order_by(OutboxMessage.attempts)
        ).all()
    # The one in flight timed out and waits for its retry; the four others are free at once.
    assert [tuple(r) for r in rows] == [(0, None)] * 4 + [(1, None)]
    assert len(http.requests) == 1
