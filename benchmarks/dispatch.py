"""Benchmark: the dispatcher sending N queued messages to a local sink with real workers.

    python benchmarks/dispatch.py --messages 100000 --channel email|http \
        [--workers 2] [--concurrency 1] [--db postgresql|sqlite] [--db-name NAME]

Builds one creditor with N debtors, each with an overdue receivable and one queued message
(e-mail, or SMS through the generic HTTP provider) — not timed. Starts the sink in a process of
its own (a lean asyncio server that speaks real SMTP with PIPELINING, or HTTP/1.1 keep-alive
as the generic provider, and counts Message-IDs / Idempotency-Keys), then times ``--workers``
processes of ``adimple worker --once`` from their start until the last one exits: interpreter start,
claims, guards at send time, rendering, the send and the per-row result commit, everything.
Prints one JSON object ``{messages, seconds, per_s, peak_rss_mb, …}``.

The machine has 2 cores: the workers, PostgreSQL and the sink share them, so the figure is
what one small box does end to end, not the dispatcher alone. ``ms_cpu_per_message`` (the
workers' own CPU time per message) and ``load_average`` (1-minute, before and after) say how
much of the wall time was the dispatcher's work and how busy the machine was;
``ms_sink_cpu_per_message`` and ``ms_postgres_cpu_per_message`` (the workers' PostgreSQL
backends, read from ``/proc``) are the rest of the 2 cores' work per message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Monday 23/11/2026 14:00 in São Paulo: inside the contact window (the workers run "as of" it).
OPEN_HOURS = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
CHUNK = 10_000


def seed_outbox(
    engine: Engine,
    *,
    messages: int,
    channel: str,
    provider: str | None = None,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    slug: str | None = None,
    when: datetime = OPEN_HOURS,
) -> uuid.UUID:
    """One tenant with ``messages`` debtors, each with one overdue receivable and one queued
    message on ``channel`` (``email`` or ``sms``), inserted set-wise; returns the tenant id.
    ``provider``/``settings``/``secrets`` become the tenant's ChannelConfig for the channel."""
    from adimple.messaging.channels.models import ChannelConfig, ProviderKind
    from adimple.messaging.models import OutboxMessage, OutboxReceivable, OutboxStatus
    from adimple.portfolio.models import (
        Channel,
        ContactKind,
        ContactOwner,
        ContactPoint,
        Customer,
        DocumentKind,
        Receivable,
        ReceivableStatus,
    )
    from adimple.tenancy.service import create_tenant

    kind = Channel(channel)
    with Session(engine) as session:
        tenant = create_tenant(
            session,
            slug=slug or f"bench-{uuid.uuid4().hex[:8]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        if provider is not None:
            session.add(
                ChannelConfig(
                    tenant_id=tenant.id,
                    channel=kind,
                    provider=ProviderKind(provider),
                    settings=settings or {},
                    secrets=secrets or {},
                    updated_by="benchmark",
                )
            )
        session.commit()
        tenant_id = tenant.id
        for start in range(0, messages, CHUNK):
            numbers = range(start, min(start + CHUNK, messages))
            customers, points, receivables, outbox, links = [], [], [], [], []
            for n in numbers:
                customer_id, point_id = uuid.uuid4(), uuid.uuid4()
                receivable_id, message_id = uuid.uuid4(), uuid.uuid4()
                address = f"devedor{n}@example.com" if kind == Channel.EMAIL else f"+55119{n:08d}"
                customers.append(
                    {
                        "id": customer_id,
                        "tenant_id": tenant_id,
                        "external_id": f"C{n:09d}",
                        "document": "52998224725",
                        "document_kind": DocumentKind.CPF,
                        "name": f"Cliente {n}",
                        "uf": "SP",
                        "tags": [],
                        "consumer": False,
                        "deceased": False,
                        "disputed": False,
                        "superendividamento": False,
                        "do_not_contact": False,
                    }
                )
                points.append(
                    {
                        "id": point_id,
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "kind": ContactKind.EMAIL if kind == Channel.EMAIL else ContactKind.PHONE,
                        "value": address,
                        "owner": ContactOwner.DEBTOR,
                        "verified": False,
                        "preferred": True,
                    }
                )
                receivables.append(
                    {
                        "id": receivable_id,
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "external_id": f"R{n:09d}",
                        "issue_date": date(2026, 1, 2),
                        "due_date": date(2026, 11, 2),
                        "original_amount": Decimal("250.00"),
                        "balance": Decimal("250.00"),
                        "status": ReceivableStatus.OPEN,
                    }
                )
                outbox.append(
                    {
                        "id": message_id,
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "contact_point_id": point_id,
                        "channel": kind,
                        "address": address,
                        "step_key": "d1",
                        "template": "aviso_atraso",
                        "plan_date": when.date(),
                        "idempotency_key": f"bench:{n}:{message_id.hex[:8]}",
                        "scheduled_for": when,
                        "next_attempt_at": when,
                        "status": OutboxStatus.QUEUED,
                        "attempts": 0,
                        "data": {},
                    }
                )
                links.append(
                    {
                        "tenant_id": tenant_id,
                        "outbox_id": message_id,
                        "receivable_id": receivable_id,
                    }
                )
            for model, rows in (
                (Customer, customers),
                (ContactPoint, points),
                (Receivable, receivables),
                (OutboxMessage, outbox),
                (OutboxReceivable, links),
            ):
                session.execute(insert(model), rows)
            session.commit()
    # Statistics, as a live database has them (the claim, guards and render queries are
    # planned on them; right after a bulk load PostgreSQL has none yet).
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return tenant_id


def outbox_counts(engine: Engine) -> dict[str, int]:
    from adimple.messaging.models import OutboxMessage

    with Session(engine) as session:
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    return {str(status): count for status, count in rows}


# The sink: a lean asyncio server in a process of its own that speaks the real protocol — an
# HTTP/1.1 keep-alive server answering the generic provider's ``{"id": …}`` (idempotency key
# as the id), or an SMTP server (EHLO with PIPELINING, MAIL, RCPT, DATA with dot-unstuffing,
# RSET, NOOP, QUIT) — and counts every Idempotency-Key / Message-ID it accepted. It shares the
# 2 cores with the workers and PostgreSQL, so it does nothing else: the test servers of
# ``adimple.messaging.testing`` (threaded http.server, aiosmtpd with full parsing) cost about
# as much CPU per message as a worker.
_SINK = r"""
import asyncio, json, re, resource, socket, sys

kind = sys.argv[1]
keys = []
MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.M | re.I)


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            key = fields.get("idempotency-key", "")
            keys.append(key)
            body = json.dumps({"id": key}).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body
            )


class Smtp(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer, self.data = transport, b"", None
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data):
        self.buffer += data
        replies = []
        while True:
            if self.data is not None:  # inside DATA: up to the lone dot
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0 and self.buffer.startswith(b".\r\n"):
                    end = -2
                if end < 0 and not self.buffer.startswith(b".\r\n"):
                    break
                content = self.buffer[: max(end, 0) + 2] if end >= 0 else b""
                self.buffer = self.buffer[end + 5:]
                content = content.replace(b"\r\n..", b"\r\n.")
                header = content.split(b"\r\n\r\n", 1)[0]
                found = MESSAGE_ID.search(header)
                keys.append(found.group(1) if found else b"")
                self.data = None
                replies.append(b"250 OK queued")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 33554432")
            elif verb == b"HELO":
                replies.append(b"250 sink")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                replies.append(b"250 OK")
            elif verb == b"DATA":
                replies.append(b"354 End data with <CR><LF>.<CR><LF>")
                self.data = b""
            elif verb == b"QUIT":
                replies.append(b"221 Bye")
                self.transport.write(b"\r\n".join(replies) + b"\r\n")
                self.transport.close()
                return
            else:
                replies.append(b"500 unknown command")
        if replies:
            self.transport.write(b"\r\n".join(replies) + b"\r\n")


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http if kind == "http" else Smtp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    where = {"url": f"http://127.0.0.1:{port}"} if kind == "http" else {
        "host": "127.0.0.1", "port": port}
    print(json.dumps(where), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    server.close()


try:
    import uvloop  # the sink's own cost per message, halved where available
except ImportError:
    asyncio.run(main())
else:
    uvloop.run(main())
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"received": len(keys), "distinct": len(set(keys)),
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}), flush=True)
"""


def start_sink(kind: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    sink = subprocess.Popen(
        [sys.executable, "-c", _SINK, kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    return sink, json.loads(sink.stdout.readline())


class BackendCpu:
    """CPU time of the PostgreSQL backends serving ``database`` while it runs (polled from
    ``/proc``: PostgreSQL runs on this machine; each backend's last reading is kept, so a
    backend that exits between two polls loses at most its last ``interval``)."""

    def __init__(self, url: str, database: str, interval: float = 0.2) -> None:
        import threading

        self.url, self.database, self.interval = url, database, interval
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                pids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                        "pg_backend_pid()",
                        (self.database,),
                    )
                ]
                for pid in pids:
                    cpu = self._cpu(pid)
                    if cpu is not None:
                        self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))
                self.stop.wait(self.interval)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> float:
        self.stop.set()
        self.thread.join()
        return sum(self.seen.values())


def stop_sink(sink: subprocess.Popen[str]) -> dict[str, Any]:
    assert sink.stdin is not None and sink.stdout is not None
    sink.stdin.write("\n")
    sink.stdin.flush()
    result: dict[str, Any] = json.loads(sink.stdout.readline())
    sink.wait(timeout=60)
    return result


def postgres_database(name: str) -> str:
    admin = make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--channel", choices=["email", "http"], default="email")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="threads per worker")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--db-name",
        default="adimple_bench_dispatch",
        help="PostgreSQL database to (re)create: one per concurrent run on a shared server",
    )
    args = parser.parse_args()

    from adimple.db.engine import make_engine
    from adimple.db.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="adimple-dispatch-"))
    if args.db == "postgresql":
        url = postgres_database(args.db_name)
    else:
        url = f"sqlite:///{folder / 'dispatch.db'}"
    engine = make_engine(url)
    upgrade(engine)

    sink, where = start_sink(args.channel)
    if args.channel == "email":
        channel, provider = "email", "smtp"
        settings = {
            "host": where["host"],
            "port": where["port"],
            "security": "none",
            "from_address": "cobranca@credor.example",
        }
    else:
        channel, provider, settings = "sms", "generic_http", {"base_url": where["url"]}
    seed_started = time.perf_counter()
    seed_outbox(
        engine, messages=args.messages, channel=channel, provider=provider, settings=settings
    )
    seed_seconds = time.perf_counter() - seed_started
    engine.dispose()

    env = os.environ | {"ADIMPLE_DATABASE_URL": url, "ADIMPLE_SANDBOX_DIR": str(folder)}
    command = [
        sys.executable,
        "-m",
        "adimple.cli",
        "worker",
        "--once",
        "--as-of",
        OPEN_HOURS.isoformat(),
        "--batch",
        str(args.batch),
        "--concurrency",
        str(args.concurrency),
    ]
    backends = None
    if args.db == "postgresql":
        admin = make_url(PG_ADMIN).set(drivername="postgresql")
        backends = BackendCpu(admin.render_as_string(hide_password=False), args.db_name)
        backends.start()
    load_before = os.getloadavg()[0]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(args.workers)
    ]
    outputs = [json.loads(worker.communicate()[0]) for worker in workers]
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers (the sink still runs)
    worker_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    load_after = os.getloadavg()[0]
    postgres_cpu = backends.finish() if backends is not None else None
    received = stop_sink(sink)

    engine = make_engine(url)
    counts = outbox_counts(engine)
    engine.dispose()
    sent = sum(o["sent"] for o in outputs)
    print(
        json.dumps(
            {
                "messages": args.messages,
                "channel": args.channel,
                "db": args.db,
                "workers": args.workers,
                "concurrency": args.concurrency,
                "seconds": round(seconds, 2),
                "per_s": round(sent / seconds, 1),
                "peak_rss_mb": max(o["peak_rss_mb"] for o in outputs),
                "sent": sent,
                "received": received["received"],
                "received_distinct": received["distinct"],
                "outbox": counts,
                "worker_errors": sum(o["errors"] for o in outputs),
                "worker_cpu_seconds": round(worker_cpu, 1),
                "ms_cpu_per_message": round(1000 * worker_cpu / max(sent, 1), 2),
                # The rest of the machine's work per message: the sink (whole life, seeding
                # included, which is idle for it) and the PostgreSQL backends of the workers.
                "ms_sink_cpu_per_message": round(1000 * received["cpu_seconds"] / max(sent, 1), 2),
                "ms_postgres_cpu_per_message": round(1000 * postgres_cpu / max(sent, 1), 2)
                if postgres_cpu is not None
                else None,
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "seed_seconds": round(seed_seconds, 1),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
