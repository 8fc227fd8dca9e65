"""Benchmark: the debtor portal's offers page (``GET /portal/ofertas``) under load.

    python benchmarks/portal_load.py [--debtors 10000] [--seconds 60] [--workers 2] \
        [--connections 8] [--threads 2] [--db postgresql|sqlite]

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). Builds, in bulk and not timed, one creditor
with the default policy and ``--debtors`` customers, each with 1–3 overdue receivables, and one
live portal session per customer (random tokens whose SHA-256 is stored, as
``access.start_session`` does; ``last_seen_at`` a few minutes old, so each session's first
request also writes its ``last_seen_at`` touch). Starts the app in uvicorn with ``--workers``
processes (no access log) against a database of its own, checks that a session's page really
shows offers, then runs wrk on loopback for ``--seconds`` with a Lua script that sends a
different session cookie on every request (rotating over all sessions), and the same for
``/healthz`` (``bare_rps``: what the same app serves with no database or template work).

Prints one JSON object ``{requests, rps, p50_ms, p99_ms, errors, bare_rps, …}``; ``errors``
is non-2xx answers plus socket errors (connect, read, write, timeout). wrk keeps
``--connections`` requests in flight (a closed loop), so latency includes queueing behind them.
The machine has 2 cores shared by wrk, uvicorn and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHUNK = 5_000

# wrk runs one Lua state per thread: each starts at its own offset and steps through the
# tokens, so the connections together cycle over every session. done() prints one JSON line.
WRK_COOKIES = r"""
local tokens = {}
local counter = 0
local threads = {}
local id = 0

function setup(thread)
  thread:set("id", id)
  id = id + 1
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  counter = id * 7919
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", nil, {["Cookie"] = "adimple_portal=" .. token})
end
"""
WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def postgres_database(name: str) -> str:
    admin = make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    admin = make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_portal(engine: Engine, *, debtors: int, today: date, now: datetime) -> list[str]:
    """One tenant (default policy), ``debtors`` customers with 1–3 overdue receivables each and
    a live portal session apiece, inserted set-wise; returns the session cookie tokens."""
    from adimple.portfolio.models import Customer, DocumentKind, Receivable, ReceivableStatus
    from adimple.tenancy.service import create_tenant
    from adimple.web.portal.access import SESSION_ABSOLUTE, token_hash
    from adimple.web.portal.models import PortalSession

    tokens: list[str] = []
    with Session(engine) as session:
        tenant = create_tenant(
            session,
            slug=f"bench-{uuid.uuid4().hex[:8]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        session.commit()
        tenant_id = tenant.id
        for start in range(0, debtors, CHUNK):
            customers, receivables, sessions = [], [], []
            for n in range(start, min(start + CHUNK, debtors)):
                customer_id = uuid.uuid4()
                customers.append(
                    {
                        "id": customer_id,
                        "tenant_id": tenant_id,
                        "external_id": f"C{n:09d}",
                        "document": "52998224725",
                        "document_kind": DocumentKind.CPF,
                        "name": f"Cliente {n}",
                        "birth_date": date(1980, 1, 1) + timedelta(days=n % 9000),
                        "uf": "SP",
                        "tags": [],
                        "consumer": n % 2 == 0,
                        "deceased": False,
                        "disputed": False,
                        "superendividamento": False,
                        "do_not_contact": False,
                    }
                )
                # Amounts with centavos and due dates drawn per debtor: no two debtors share a
                # debt, so the offers' per-process memo (charges.service) only helps a debtor
                # who comes back, never across debtors as a repeating pattern would.
                draw = random.Random(n)
                for k in range(1 + n % 3):
                    amount = Decimal(draw.randrange(15_000, 200_000)) / 100
                    receivables.append(
                        {
                            "id": uuid.uuid4(),
                            "tenant_id": tenant_id,
                            "customer_id": customer_id,
                            "external_id": f"R{n:09d}-{k}",
                            "issue_date": today - timedelta(days=400),
                            "due_date": today - timedelta(days=draw.randrange(10, 400)),
                            "original_amount": amount,
                            "balance": amount,
                            "status": ReceivableStatus.OPEN,
                        }
                    )
                token = secrets.token_urlsafe(32)
                tokens.append(token)
                sessions.append(
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "token_hash": token_hash(token),
                        "csrf_token": secrets.token_urlsafe(32),
                        "method": "birth_date",
                        "created_at": now - timedelta(minutes=5),
                        "last_seen_at": now - timedelta(minutes=5),
                        "expires_at": now + SESSION_ABSOLUTE,
                        "ip": "127.0.0.1",
                        "user_agent": "benchmark",
                    }
                )
            for model, rows in (
                (Customer, customers),
                (Receivable, receivables),
                (PortalSession, sessions),
            ):
                session.execute(insert(model), rows)
            session.commit()
    # A live database has planner statistics (autovacuum); right after a bulk load it has none,
    # and a prepared statement's generic plan then scans the tenant's whole status index.
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    return tokens


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and all their descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total, seen, todo = 0.0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError):
            continue  # ended meanwhile
    return total


def database_backends(url: str) -> list[int]:
    """PostgreSQL's server processes serving the benchmark database (the app's pool)."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [row[0] for row in rows]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, *, workers: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"ADIMPLE_DATABASE_URL": url, "ADIMPLE_SANDBOX_DIR": str(folder)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "adimple.web.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "wb"),  # noqa: SIM115 (closed with the process)
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: see {folder / 'server.log'}") from None
            time.sleep(0.2)
    return server, base


def check_offers(base: str, token: str) -> None:
    """The load is only worth measuring if a session really gets its offers page."""
    request = urllib.request.Request(
        f"{base}/portal/ofertas", headers={"Cookie": f"adimple_portal={token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    if answer.status != 200 or "proposta" not in body.lower():
        raise SystemExit(f"/portal/ofertas did not show offers (HTTP {answer.status})")


def run_wrk(
    url: str, *, seconds: int, connections: int, threads: int, folder: Path, tokens: Path | None
) -> dict[str, Any]:
    script = folder / ("portal.lua" if tokens else "bare.lua")
    script.write_text((WRK_COOKIES if tokens else "") + WRK_DONE)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(script), url]
    if tokens is not None:
        command += ["--", str(tokens)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith('{"requests"'))
    raw: dict[str, Any] = json.loads(line)
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "errors": errors,
        "error_kinds": {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--debtors", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu)")

    from adimple.db.engine import make_engine
    from adimple.db.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="adimple-portal-load-"))
    name = "adimple_bench_portal"
    if args.db == "postgresql":
        url = postgres_database(name)
    else:
        url = f"sqlite:///{folder / 'portal.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    seed_started = time.perf_counter()
    tokens = seed_portal(engine, debtors=args.debtors, today=now.date(), now=now)
    seed_seconds = time.perf_counter() - seed_started
    engine.dispose()
    token_file = folder / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")

    server, base = start_server(url, workers=args.workers, folder=folder)
    try:
        check_offers(base, tokens[0])
        load_before = os.getloadavg()[0]
        # The pool's connections exist once each worker served a page: warm them first.
        run_wrk(
            f"{base}/portal/ofertas",
            seconds=2,
            connections=args.connections,
            threads=args.threads,
            folder=folder,
            tokens=token_file,
        )
        backends = database_backends(url) if args.db == "postgresql" else []
        cpu_before = process_cpu([server.pid])
        db_cpu_before = process_cpu(backends)
        offers = run_wrk(
            f"{base}/portal/ofertas",
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
            folder=folder,
            tokens=token_file,
        )
        load_after = os.getloadavg()[0]
        app_cpu = process_cpu([server.pid]) - cpu_before
        db_cpu = process_cpu(backends) - db_cpu_before
        bare = run_wrk(
            f"{base}/healthz",
            seconds=min(args.seconds, 20),
            connections=args.connections,
            threads=args.threads,
            folder=folder,
            tokens=None,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.db == "postgresql" and not args.keep:
        drop_postgres_database(name)
    print(
        json.dumps(
            offers
            | {
                "bare_rps": bare["rps"],
                "bare_p99_ms": bare["p99_ms"],
                "bare_errors": bare["errors"],
                # CPU per offers request: the app's worker processes, and PostgreSQL's
                # backends serving them; 2 cores / their sum is the ceiling on this machine.
                "app_cpu_ms_per_request": round(1000 * app_cpu / max(offers["requests"], 1), 2),
                "db_cpu_ms_per_request": round(1000 * db_cpu / max(offers["requests"], 1), 2),
                "target_met": offers["rps"] >= 300
                and offers["p99_ms"] <= 100
                and offers["errors"] == 0,
                "debtors": args.debtors,
                "seconds": args.seconds,
                "db": args.db,
                "workers": args.workers,
                "connections": args.connections,
                "wrk_threads": args.threads,
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "seed_seconds": round(seed_seconds, 1),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
