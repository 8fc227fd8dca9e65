"""``adimple worker --as-of``: the clock is anchored at the process's start, not after imports."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

from adimple.messaging.worker import process_clock, seconds_since_process_start


def test_this_process_started_before_now() -> None:
    elapsed = seconds_since_process_start()
    assert 0.0 < elapsed < 24 * 3600


def test_two_processes_started_apart_agree_on_the_time() -> None:
    """Workers launched one after the other, each told the timeline's time at its launch, read
    the same time — however long their start-up took (the second one's is 1.5 s longer)."""
    script = (
        "import sys, time\n"
        "from datetime import datetime\n"
        "time.sleep(float(sys.argv[2]))  # a slow start-up\n"
        "from adimple.messaging.worker import process_clock\n"
        "clock = process_clock(datetime.fromisoformat(sys.argv[1]))\n"
        "print(clock().timestamp() - time.time())\n"
    )
    timeline_start = datetime(2026, 11, 23, 17, tzinfo=UTC).timestamp()
    launched = time.time()
    offsets = []
    for slow in ("0", "1.5"):
        as_of = datetime.fromtimestamp(timeline_start + time.time() - launched, UTC)
        out = subprocess.run(
            [sys.executable, "-c", script, as_of.isoformat(), slow],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        offsets.append(float(out))
    # Both clocks are the timeline's: timeline_start − launched away from the wall clock.
    for offset in offsets:
        assert abs(offset - (timeline_start - launched)) < 0.3, offsets


def test_process_clock_runs_from_the_process_start() -> None:
    as_of = datetime(2026, 11, 23, 17, tzinfo=UTC)
    elapsed = seconds_since_process_start()
    reading = (process_clock(as_of)() - as_of).total_seconds()
    assert reading >= elapsed - 0.05
