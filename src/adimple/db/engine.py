"""Engines and sessions.

SQLite is hardened on connect (WAL, foreign keys, busy timeout) and every transaction starts
with ``BEGIN IMMEDIATE`` so two writers queue instead of failing on lock upgrade (the pattern
Prefect's server uses). PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from adimple.settings import get_settings

# Execution option: this transaction only reads (SQLite begins it DEFERRED, not IMMEDIATE).
READ_ONLY_OPTION = "adimple_read_only"


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    settings = get_settings()
    url = normalize_url(url or settings.database_url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=settings.db_echo,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )
        _harden_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", settings.db_pool_size)
    ping_idle = kwargs.pop("pool_pre_ping", True)
    engine = create_engine(url, echo=settings.db_echo, **kwargs)
    if ping_idle:
        _ping_after_idle(engine)
    return engine


# A pooled connection unused for this long is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_after_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, without a round trip per checkout.

    ``pool_pre_ping`` pings on *every* checkout: a round trip on every web request (a portal
    page needs only two more). A connection back in use within seconds was just answering, so
    only one idle for :data:`PING_AFTER_IDLE_SECONDS` is pinged — after a quiet night, a
    database restart or a failover — and a dead one is swapped for a fresh one before anyone
    sees it (SQLAlchemy's documented checkout-event recipe: ``DisconnectionError`` makes the
    pool retry). A restart within those seconds of a connection's last use fails the one
    request that finds it, and the pool then drops every connection older than the failure.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            if engine.dialect.is_disconnect(error, dbapi_conn, None):  # type: ignore[arg-type]
                raise exc.DisconnectionError() from error
            raise


def make_worker_engine(url: str | None = None) -> Engine:
    """The engine of ``adimple worker`` (the outbox dispatcher).

    PostgreSQL: its commits do not wait for the WAL flush (``synchronous_commit = off``; 2–6 ms
    per commit here, one commit per message sent). A killed *worker* loses nothing by it — the
    commit is in PostgreSQL's memory — but a crash of PostgreSQL itself may lose the last
    fraction of a second of commits (at most 3 × ``wal_writer_delay``, 0.6 s by default):
    claims (the rows are simply queued again), cancellations (decided again) and results,
    whose messages are then sent again with the same idempotency key (Message-ID / provider
    key) — the provider-call window of DESIGN §4.3, widened to that fraction of a second and
    only on a database crash. No pre-ping either: the worker retries a batch whose connection
    broke, and a ping per session was one round trip per message.
    SQLite: as :func:`make_engine` (its writes are already ``synchronous=NORMAL`` in WAL).
    """
    settings = get_settings()
    url = normalize_url(url or settings.database_url)
    if url.startswith("sqlite"):
        return make_engine(url)
    return make_engine(
        url, pool_pre_ping=False, connect_args={"options": "-c synchronous_commit=off"}
    )


def _harden_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache per connection (SQLite's default is 2 MiB): the daily cycle and
        # the imports read and write hundreds of thousands of pages; the memory is taken only
        # as pages are used.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A reader that will not write may ask for a deferred transaction (no write lock):
        # ``session.connection(execution_options={READ_ONLY_OPTION: True})``.
        deferred = conn.get_execution_options().get(READ_ONLY_OPTION)
        conn.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


def autocommit_reads(session: Session) -> None:
    """Runs the session's statements each in its own transaction on PostgreSQL.

    For requests whose statements each stand alone (a page that reads, plus at most one
    single-statement write): no ``BEGIN`` and ``COMMIT`` round trips, two of a portal page's six.
    Call it before the session's first statement. SQLite keeps its one transaction (``BEGIN``
    there is not a round trip, and its reader must not upgrade to a writer halfway).
    """
    bind = session.get_bind()
    # A session bound to a connection already in a transaction (a caller's unit of work, the
    # tests' rolled-back outer transaction) stays in it.
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@lru_cache
def get_engine() -> Engine:
    return make_engine()


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commits when the block ends, rolls back on any exception.

    Services only flush; the request, job or command that opened the unit of work commits.
    """
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
