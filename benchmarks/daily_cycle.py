"""Benchmark: the daily cycle (`adimple run --date D`) over a large portfolio.

    python benchmarks/daily_cycle.py --customers 2000000 --receivables 10000000 --db postgresql

Builds, in SQL and not timed, a tenant with the default régua and a portfolio: customers (a few
flagged disputed, deceased, do-not-contact; some businesses), contact points (e-mail, mobile,
postal address; some third-party), receivables due from 18 months ago to 2 months ahead —
most past ones paid (with their payments, some late), some open and overdue — then runs the
cycle for the day before (not timed: it opens the cases of every customer already overdue,
the steady state a production tenant is in) and times `adimple run` for DATE in a child
process. ``scan_seconds`` is a bare ``SELECT count(*), sum(balance_cents)`` over the open
receivables in the same run: the median of five, each in ``scan_runs``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adimple.db.engine import make_engine  # noqa: E402
from adimple.db.migrate import upgrade  # noqa: E402

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HISTORY_DAYS = 540
AHEAD_DAYS = 60


MULTIPLIERS = [2654435761, 2246822519, 3266489917, 668265263, 374761393, 1181783497, 3575866369]


def h(expr: str, salt: int, modulo: int) -> str:
    """A deterministic pseudo-random integer in [0, modulo) from an integer SQL expression.

    The product of two unrelated congruences, so draws with different salts do not move
    together (a single linear hash would tie, say, the due day to the paid flag).
    """
    m = MULTIPLIERS[salt % len(MULTIPLIERS)]
    return (
        f"(((CAST(({expr}) AS BIGINT) * {m} % 4294967296) "
        f"* ((({expr}) + {salt * 7919}) % 65521 + 1)) % 4294967291 % {modulo})"
    )


def build(engine, customers: int, receivables: int, day: date) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    from adimple.cadence.library import install_defaults
    from adimple.tenancy.service import create_tenant

    with Session(engine) as session:
        tenant = create_tenant(
            session,
            slug="bench",
            legal_name="Credora Benchmark Ltda",
            document="11.222.333/0001-81",
            address="Av. Paulista, 1000",
            city="São Paulo",
            uf="SP",
        )
        install_defaults(session, tenant_id=tenant.id, actor="bench")
        session.commit()
        tenant_id = tenant.id
    pg = engine.dialect.name == "postgresql"
    tid = f"'{tenant_id}'" if pg else f"'{tenant_id.hex}'"
    start = day - timedelta(days=HISTORY_DAYS)
    span = HISTORY_DAYS + AHEAD_DAYS

    def seq(n: int) -> str:
        if pg:
            return f"generate_series(1, {n}) AS s(n)"
        return (
            "(WITH RECURSIVE q(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM q "
            f"WHERE n < {n}) SELECT n FROM q) AS s"
        )

    def cid(expr: str) -> str:
        if pg:
            return f"md5('c' || ({expr}))::uuid"
        return f"printf('%08x%024x', ({expr}) * 2654435761 % 4294967296, {expr})"

    def rid(expr: str, prefix: str) -> str:
        if pg:
            return f"md5('{prefix}' || ({expr}))::uuid"
        salt = "eparp".index(prefix) + 1
        return f"printf('%08x%024x', ({expr}) * 40503 % 4294967296, ({expr}) + {salt} * 100000000)"

    def add_days(expr: str) -> str:
        if pg:
            return f"(DATE '{start.isoformat()}' + CAST(({expr}) AS INTEGER))"
        return f"date('{start.isoformat()}', printf('%+d days', {expr}))"

    now = "CURRENT_TIMESTAMP"
    ufs = ["SP", "RJ", "MG", "BA", "RS", "PR", "PE", "CE", "AM", "AC"]
    uf_case = (
        "CASE "
        + " ".join(f"WHEN {h('n', 3, len(ufs))} = {i} THEN '{uf}'" for i, uf in enumerate(ufs))
        + " END"
    )
    owner = cid(f"1 + {h('n', 11, customers)}")
    due_day = h("n", 12, span)
    paid_day = f"{due_day} + {h('n', 15, 12)}"
    # The mobile number's last 8 digits. PostgreSQL's substr does not count from the end: the
    # SQLite form gave every PostgreSQL customer the same invalid number '+55119' until
    # session 5 (so SMS and WhatsApp were suppressed there, and the day had fewer contacts).
    last8 = "lpad(CAST(n AS TEXT), 8, '0')" if pg else "substr('00000000' || n, -8, 8)"
    statements = [
        f"INSERT INTO customer (id, tenant_id, external_id, document, document_kind, name, uf, "
        f"tags, consumer, deceased, disputed, superendividamento, do_not_contact, created_at, "
        f"updated_at) SELECT {cid('n')}, {tid}, 'C' || n, '52998224725', "
        f"CASE WHEN {h('n', 1, 20)} = 0 THEN 'cnpj' ELSE 'cpf' END, 'Cliente ' || n, {uf_case}, "
        f"'[]', false, {h('n', 4, 500)} = 0, {h('n', 5, 200)} = 0, {h('n', 6, 500)} = 0, "
        f"{h('n', 7, 300)} = 0, {now}, {now} FROM {seq(customers)}",
        f"INSERT INTO contact_point (id, tenant_id, customer_id, kind, value, owner, verified, "
        f"preferred, created_at, updated_at) SELECT {rid('n', 'e')}, {tid}, {cid('n')}, 'email', "
        f"'c' || n || '@example.com', 'debtor', true, false, {now}, {now} FROM {seq(customers)} "
        f"WHERE {h('n', 8, 10)} <> 0",
        f"INSERT INTO contact_point (id, tenant_id, customer_id, kind, value, owner, verified, "
        f"preferred, created_at, updated_at) SELECT {rid('n', 'p')}, {tid}, {cid('n')}, 'phone', "
        f"'+55119' || {last8}, CASE WHEN {h('n', 9, 40)} = 0 THEN "
        f"'third_party' ELSE 'debtor' END, false, false, {now}, {now} FROM {seq(customers)} "
        f"WHERE {h('n', 10, 10)} < 7",
        f"INSERT INTO contact_point (id, tenant_id, customer_id, kind, value, owner, verified, "
        f"preferred, created_at, updated_at) SELECT {rid('n', 'a')}, {tid}, {cid('n')}, "
        f"'address', 'Rua ' || n || ', 100', 'debtor', false, false, {now}, {now} "
        f"FROM {seq(customers)}",
        # Receivables: due over the last 18 months and the next two; ~96 % of the past ones paid.
        f"INSERT INTO receivable (id, tenant_id, customer_id, external_id, issue_date, due_date, "
        f"original_amount_cents, balance_cents, status, last_paid_on, created_at, updated_at) "
        f"SELECT {rid('n', 'r')}, {tid}, {owner}, 'T' || n, "
        f"{add_days(f'{due_day} - 30')}, {add_days(due_day)}, "
        f"1000 + {h('n', 13, 200000)}, "
        f"CASE WHEN {h('n', 12, span)} < {HISTORY_DAYS} AND {h('n', 14, 25)} <> 0 THEN 0 "
        f"ELSE 1000 + {h('n', 13, 200000)} END, "
        f"CASE WHEN {h('n', 12, span)} < {HISTORY_DAYS} AND {h('n', 14, 25)} <> 0 THEN 'paid' "
        f"ELSE 'open' END, "
        # The payment date (up to 11 days after the due date); the payment below copies it,
        # as the triggers on payment would have set it (they are off while building).
        f"CASE WHEN {h('n', 12, span)} < {HISTORY_DAYS} AND {h('n', 14, 25)} <> 0 THEN "
        f"{add_days(paid_day)} END, "
        f"{now}, {now} FROM {seq(receivables)}",
        "INSERT INTO payment (id, tenant_id, external_id, receivable_id, customer_id, source, "
        "gross_cents, fees_cents, net_cents, paid_on, details, created_at, updated_at) "
        "SELECT r.id, r.tenant_id, 'P' || r.external_id, r.id, r.customer_id, 'import', "
        "r.original_amount_cents, 0, r.original_amount_cents, r.last_paid_on, "
        f"'{{}}', {now}, {now} FROM receivable AS r WHERE r.tenant_id = {tid} "
        "AND r.status = 'paid'",
    ]
    with engine.connect() as conn:
        if not pg:  # outside any transaction, where SQLite lets it change (see below)
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        with conn.begin():
            deferred: list[str] = []
            if pg:  # building only: skip foreign-key triggers (the rows are consistent)
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                deferred = _defer_sqlite_indexes(conn)
            for statement in [*statements, *deferred]:
                started = time.perf_counter()
                conn.execute(text(statement))
                seconds = time.perf_counter() - started
                print(f"  {statement[:40]}… {seconds:.1f}s", file=sys.stderr)
        if not pg:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    if not pg:  # the build's WAL (as large as the database) back into the file, then gone
        with engine.connect() as conn:  # outside a transaction (the driver's own call)
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return str(tenant_id)


BULK_TABLES = ("customer", "contact_point", "receivable", "payment")


def _defer_sqlite_indexes(conn) -> list[str]:  # type: ignore[no-untyped-def]
    """Drops the named indexes and the triggers of the tables the build fills, inside the
    build's transaction; returns the statements that restore them.

    SQLite otherwise inserts every row into each index at a random place and fires the
    payment trigger (migration 0011) once per payment — a 10M build took 33 minutes, most of
    it in page-cache misses. ``CREATE INDEX`` sorts once. The trigger's only effect is
    ``receivable.last_paid_on``, which the receivable insert already sets to the payment's
    date. Foreign keys are off for the build (the caller): the rows are consistent by
    construction, as PostgreSQL's replica role assumes.
    """
    conn.execute(text("PRAGMA cache_size = -4000000"))  # sorts and indexes in memory (4 GiB)
    marks = ", ".join(f"'{name}'" for name in BULK_TABLES)
    rows = conn.execute(
        text(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            f"AND tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY type, name"
        )
    ).all()
    for kind, name, _sql in rows:
        conn.execute(text(f'DROP {kind.upper()} "{name}"'))
    return [sql for _kind, _name, sql in rows]


def run_measured(command: list[str], env: dict[str, str]) -> tuple[str, int]:
    """Runs ``command``; returns its stdout and the peak RSS (KiB) of it and its workers.

    ``os.wait4`` gives that process's own usage; ``RUSAGE_CHILDREN`` would be the largest of
    every child this script ever had (the builder, the untimed first run).
    """
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        stdout = process.stdout.read().decode()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise subprocess.CalledProcessError(
                process.returncode, command, stdout, errors.read().decode()
            )
    return stdout, usage.ru_maxrss


def build_in_process(url: str, customers: int, receivables: int, day: date) -> str:
    engine = make_engine(url)
    try:
        return build(engine, customers, receivables, day)
    finally:
        engine.dispose()


def warm_caches(db: str, url: str, sqlite_file: Path, other: str | None) -> None:
    """Reads the whole database once, untimed, so the timed run finds it in the operating
    system's page cache — as on a database server with memory for its data.

    Without this the run measured whatever the previous copies had left in the cache: a 10M
    database is 12 GB, the snapshot another 12 GB, on a 24 GB machine, and each random page
    the run then read from disk (customers, contact points, the títulos behind foreign keys)
    cost ~0.2 ms — run-to-run differences of several seconds. ``pg_prewarm(…, 'read')``
    fills the OS cache, not PostgreSQL's shared buffers.

    ``other`` is the snapshot the database was copied from, or the one just saved (PostgreSQL:
    its name; SQLite: its file). Copying read or wrote all of it, and with both in the cache,
    warming the copy evicted parts of the copy itself, which the timed run then read back from
    disk; so the snapshot's files are dropped from the cache first (where the machine lets us
    read them: PostgreSQL's files need root or the postgres user).

    The whole database is read twice. Some machines of this kind page out file pages no one
    has touched for a minute (the kernel's DAMON ``pageout`` scheme, at up to 128 MB/s:
    ``/sys/kernel/mm/damon/admin/kdamonds``), and reading 12 GB takes longer than that: the
    first pass's early pages were gone again by the time the run started (session 14,
    docs/benchmarks.md). The second pass reads back what was dropped and makes the rest recent.
    """
    if db == "postgresql":
        with psycopg.connect(url, autocommit=True) as conn:
            if other is not None:
                _evict_database(conn, other)
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            for _ in range(2):
                conn.execute(
                    "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class AS c "
                    "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')"
                )
        return
    if other is not None:
        _evict(Path(other))
    for _ in range(2):
        for path in (sqlite_file, sqlite_file.with_name(sqlite_file.name + "-wal")):
            if path.exists():
                with path.open("rb") as handle:
                    while handle.read(1 << 24):
                        pass


def _evict_database(conn: psycopg.Connection, name: str) -> None:
    """Drops a database's files (on this machine's server) from the OS page cache."""
    data_directory = conn.execute("SHOW data_directory").fetchone()
    oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if data_directory is None or oid is None:
        return
    folder = Path(data_directory[0]) / "base" / str(oid[0])
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            _evict(path)


def _evict(path: Path) -> None:
    """Asks the OS to drop a file's cached pages (clean ones: the copy is long synced)."""
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not ours to read: the cache stays as it is
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def copy_of(conn: psycopg.Connection, database: str) -> str:
    """``CREATE DATABASE``'s clause for a copy of ``database``. PostgreSQL 15 copies a
    template through the WAL by default: 12 GB of WAL for a 10M snapshot, and checkpoints the
    timed run would share the disk with; ``FILE_COPY`` copies the files."""
    strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
    return f'TEMPLATE "{database}"{strategy}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--receivables", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 24))
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--keep", action="store_true", help="Keep the database (its URL goes to stderr)."
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="After the untimed first run, save a copy of the database (its name, or on "
        "SQLite its file, goes to stderr) for --reuse.",
    )
    parser.add_argument(
        "--reuse",
        metavar="DATABASE",
        help="Skip the build and the first run; time the run on a fresh copy of a --snapshot "
        "database (PostgreSQL: its name; SQLite: its file), migrated to head first. "
        "--customers/--receivables must match.",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="adimple-cycle-"))
    snapshot_of: str | None = args.reuse  # the other copy in the OS cache, if any
    if args.db == "postgresql":
        name = f"adimple_bench_cycle_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            template = f" {copy_of(conn, args.reuse)}" if args.reuse else ""
            conn.execute(f'CREATE DATABASE "{name}"{template}')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        if args.reuse:
            shutil.copyfile(args.reuse, workdir / "cycle.db")
        url = f"sqlite:///{workdir / 'cycle.db'}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        env = {**os.environ, "ADIMPLE_DATABASE_URL": url}
        command = [
            sys.executable,
            "-m",
            "adimple.cli",
            "run",
            "--tenant",
            "bench",
            "--partitions",
            str(args.partitions),
        ]
        build_seconds = first_seconds = 0.0
        first_cases: dict[str, int] = {}
        if args.reuse:
            with engine.connect() as conn:
                tenant_id = str(
                    conn.execute(text("SELECT id FROM tenant WHERE slug = 'bench'")).scalar_one()
                )
        else:
            started = time.perf_counter()
            # In a process of its own: a child's peak RSS counts the memory of the process
            # that started it, so the builder's 4 GiB SQLite page cache must not live here.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                tenant_id = pool.submit(
                    build_in_process, url, args.customers, args.receivables, args.date
                ).result()
            build_seconds = time.perf_counter() - started
            started = time.perf_counter()
            first = subprocess.run(
                [*command, "--date", (args.date - timedelta(days=1)).isoformat()],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            first_seconds = time.perf_counter() - started
            first_cases = json.loads(first.stdout)["tenants"][0]["cases"]
        if args.snapshot:
            engine.dispose()
            if args.db == "postgresql":
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}_snapshot" {copy_of(conn, name)}')
                print(f"snapshot: {name}_snapshot", file=sys.stderr)
                snapshot_of = f"{name}_snapshot"
            else:
                snapshot = workdir.with_name(workdir.name + "-snapshot.db")
                shutil.copyfile(workdir / "cycle.db", snapshot)
                print(f"snapshot: {snapshot}", file=sys.stderr)
                snapshot_of = str(snapshot)
        if args.db == "postgresql":
            # The state autovacuum keeps a live database in (statistics current, the
            # visibility map set so index-only scans skip the heap), which neither the bulk
            # build, the first run nor a migration's backfill leaves behind on their own.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
                conn.execute("CHECKPOINT")  # not the timed run's job to flush the setup's writes
        warm_caches(args.db, url, workdir / "cycle.db", snapshot_of)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        stdout, peak = run_measured([*command, "--date", args.date.isoformat()], env)
        seconds = time.perf_counter() - started
        stats = json.loads(stdout)["tenants"][0]

        tid = tenant_id if args.db == "postgresql" else tenant_id.replace("-", "")
        # The median of five scans: in session 13 one single scan in six took 0.74 s against
        # 0.42-0.45 s for the rest, and in session 14 one run had two slow scans of three
        # (2.07 and 1.77 s against 0.83-1.1 s); the ratio moved with them (docs/benchmarks.md).
        scans: list[float] = []
        with engine.connect() as conn:
            for _ in range(5):
                started = time.perf_counter()
                count, _total = conn.execute(
                    text(
                        "SELECT count(*), sum(balance_cents) FROM receivable "
                        "WHERE tenant_id = :t AND status = 'open'"
                    ),
                    {"t": tid},
                ).one()
                scans.append(time.perf_counter() - started)
        scan_seconds = statistics.median(scans)
        engine.dispose()
        print(
            json.dumps(
                {
                    "db": args.db,
                    "receivables": args.receivables,
                    "customers": args.customers,
                    "open_receivables": count,
                    "contacts": stats["contacts"],
                    "tasks": stats["tasks"],
                    "suppressed": stats["suppressed"],
                    "cases_opened": stats["cases"].get("opened", 0),
                    "seconds": round(seconds, 2),
                    "scan_seconds": round(scan_seconds, 3),
                    "scan_runs": [round(x, 3) for x in scans],
                    "ratio_to_scan": round(seconds / scan_seconds, 1) if scan_seconds else None,
                    "peak_rss_mb": round(peak / 1024),
                    "first_run_seconds": round(first_seconds, 2),
                    "first_run": first_cases,
                    "build_seconds": round(build_seconds, 1),
                    "partitions": args.partitions,
                    "load_average_1m": round(load, 2),
                    "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                    f"Python {platform.python_version()}",
                }
            )
        )
    finally:
        if args.keep:
            print(f"kept: {url}", file=sys.stderr)
        else:
            if args.db == "postgresql":
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(workdir, ignore_errors=True)  # SQLite's database: 14 GB at 10M


if __name__ == "__main__":
    main()
