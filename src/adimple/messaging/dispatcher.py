"""Dispatcher (despacho): sends due outbox rows through the channel adapters, once each.

One loop claims a batch of due rows (``queued`` and due, or ``sending`` whose lease ran out),
then for each row: re-checks the compliance guards at send time, renders, sends through the
tenant's adapter for the channel with the outbox idempotency key, and records the result.
The guards and the rendering read their facts for the whole batch at once (set-wise), and look
again, one query per row, just before each send (:meth:`Dispatcher._still_sendable`). On
PostgreSQL that look and the previous row's result are one statement in autocommit
(:class:`_PgSendPath`): one round trip per message, each result committed before the next send.

Crash windows, per row — where a ``kill -9`` can land and what follows:

1. after the claim commits, before the send: the row stays ``sending`` until its lease runs
   out, then a later claim takes it again and sends it — once;
2. guards or rendering decided not to send (cancelled, rescheduled, failed): that decision is
   committed before anything leaves, so nothing was sent;
3. after the provider accepted, before the result commits: the lease runs out and the row is
   sent again. This is the one duplicate a crash may cause (DESIGN §4.3); the provider gets the
   same idempotency key both times, so one that honours it drops the copy;
4. after the result commits: done.

Each result is committed on its own, before the next row is sent, so a kill loses at most the
row in flight (one per sending thread). Leases are renewed before they could lapse under a
slow batch, and every write checks ``claimed_by``, so two workers never send the same row
unless a lease was allowed to expire.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Engine,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from adimple.audit import service as audit
from adimple.cadence.models import SuppressionReason
from adimple.db import dialect
from adimple.db.base import utcnow
from adimple.db.engine import READ_ONLY_OPTION
from adimple.kit.errors import DomainError
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.portfolio.models import Channel, ContactPoint

if TYPE_CHECKING:
    from adimple.messaging.channels.base import ChannelAdapter, OutgoingMessage, SendResult

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AdapterFactory = Callable[[Session, uuid.UUID], "Mapping[Channel, ChannelAdapter]"]

# A lease is renewed when less than the send timeout plus this margin (at most a quarter of
# the lease) is left on it.
LEASE_MARGIN_SECONDS = 5.0
# A row prepared with its batch is checked against the database again right before it is
# sent, this many rows per query, at most this many seconds before its send. One row: the
# claim must be checked just before the send, as on the one-row path — a wider window let a
# worker send rows another worker had taken over (a lease judged expired by a clock running
# ahead, or a stalled worker) and multiplied duplicates in the fault test.
RECHECK_EVERY = 1
RECHECK_SECONDS = 0.5
# Expired leases are looked for at most this often (and whenever the queue runs short; see
# claim_due), at most a quarter of the lease apart: a dead worker's rows wait this much longer.
RECOVERY_SECONDS = 5.0
SUBJECT_LENGTH = 300  # outbox_message.subject is VARCHAR(300)
ERROR_LENGTH = 2000


@dataclass(frozen=True)
class DispatchConfig:
    """How a sending loop behaves (``adimple worker`` fills it from flags and env)."""

    batch: int = 100
    lease_seconds: float = 120.0
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 6 * 3600.0
    send_timeout_seconds: float = 30.0
    rate_limits: Mapping[str, float] = field(default_factory=dict)  # adapter name → msgs/s
    adapter_ttl_seconds: float = 60.0
    tenant_id: uuid.UUID | None = None  # claim only this tenant's rows


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    cancelled: int = 0
    rescheduled: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0  # rows whose lease another worker took over before we got to them
    released: int = 0

    def add(self, other: DispatchStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class SendTimeout(Exception):
    """The provider did not answer within the send timeout (treated as transient)."""


def backoff_delay(
    attempts: int, *, base: float, cap: float, rng: random.Random | None = None
) -> timedelta:
    """Delay before retry number ``attempts`` (1 = first retry): ``min(cap, base·2^(n-1))``
    with "equal jitter" — half fixed, half random — so rows that failed together (a provider
    outage) do not all come back in the same second."""
    exponent = min(max(attempts - 1, 0), 40)
    raw = min(cap, base * float(2**exponent))
    jitter = (rng or random).uniform(0.0, raw / 2)
    return timedelta(seconds=raw / 2 + jitter)


# --- claiming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    ids: list[uuid.UUID]
    lease_until: datetime
    given_up: int = 0  # rows that had crashed their workers too often and are now failed


def claim_due(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    max_attempts: int,
    tenant_id: uuid.UUID | None = None,
    recover: bool = True,
) -> Claim:
    """Takes up to ``limit`` due rows for ``worker_id`` (the caller commits).

    Crash recovery first: ``sending`` rows whose lease expired belonged to a worker that died
    (or stalled) mid-batch. Taking one over counts as an attempt, so a message that kills its
    worker every time ends ``failed`` after ``max_attempts`` instead of looping forever.
    Then ``queued`` rows in due order (the ``(status, next_attempt_at)`` index serves it).
    PostgreSQL locks with ``FOR UPDATE SKIP LOCKED``; SQLite is inside ``BEGIN IMMEDIATE``.
    ``tenant_id`` limits the claim to one tenant (a worker dedicated to a large creditor).

    ``recover=False`` looks for expired leases only when the queued rows do not fill the
    claim: the dispatcher recovers every ``RECOVERY_SECONDS`` and whenever the queue runs
    short, not on every batch. That look walks every ``sending`` entry of the claim index,
    and while any transaction on the server holds an old snapshot PostgreSQL cannot drop the
    entries of rows sent since — it grew with the run (11 ms per claim after 30,000 sends).
    """
    conn = session.connection()
    lease_until = now + lease
    scope = [OutboxMessage.tenant_id == tenant_id] if tenant_id is not None else []

    def take_over(room: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        expired_rows = session.execute(
            dialect.lock_for_claim(
                conn,
                select(OutboxMessage.id, OutboxMessage.attempts)
                .where(
                    _status_is(OutboxStatus.SENDING),
                    OutboxMessage.lease_until < now,
                    *scope,
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(room),
            )
        ).all()
        given_up = [row.id for row in expired_rows if row.attempts + 1 >= max_attempts]
        recovered = [row.id for row in expired_rows if row.attempts + 1 < max_attempts]
        if expired_rows:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in expired_rows]))
                .values(
                    attempts=OutboxMessage.attempts + 1,
                    last_error="lease expired: the worker stopped before recording a result",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        if given_up:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(given_up))
                .values(status=OutboxStatus.FAILED, lease_until=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return recovered, given_up

    recovered, given_up = take_over(limit) if recover else ([], [])
    room = limit - len(recovered) - len(given_up)
    queued: list[uuid.UUID] = []
    if room > 0:
        queued = list(
            session.scalars(
                dialect.lock_for_claim(
                    conn,
                    select(OutboxMessage.id)
                    .where(
                        _status_is(OutboxStatus.QUEUED),
                        OutboxMessage.next_attempt_at <= now,
                        *scope,
                    )
                    .order_by(OutboxMessage.next_attempt_at)
                    .limit(room),
                )
            )
        )
    if not recover and len(queued) < room:
        # The queue ran short: a dead worker's rows are never left behind a drained queue.
        recovered, given_up = take_over(room - len(queued))
    ids = recovered + queued
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                status=OutboxStatus.SENDING,
                lease_until=lease_until,
                claimed_by=worker_id,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return Claim(ids=ids, lease_until=lease_until, given_up=len(given_up))


def _status_is(status: OutboxStatus) -> Any:
    """``status = '<value>'`` with the value written into the SQL, not bound: PostgreSQL then
    proves the claim index's predicate (``status IN ('queued', 'sending')``, a partial index)
    from it even in a generic plan of a prepared statement, where a parameter is unknown."""
    return OutboxMessage.status == literal_column(f"'{status.value}'")


def renew_leases(
    session: Session,
    *,
    worker_id: str,
    ids: list[uuid.UUID],
    now: datetime,
    lease: timedelta,
) -> set[uuid.UUID]:
    """Extends the lease of rows still ours; returns those (the caller commits)."""
    if not ids:
        return set()
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.claimed_by == worker_id,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(lease_until=now + lease, updated_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def release_claims(session: Session, *, worker_id: str, ids: list[uuid.UUID], now: datetime) -> int:
    """Gives back claimed rows that were not sent (graceful stop): queued again, attempts
    unchanged, due at once for the next worker (the caller commits)."""
    if not ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.claimed_by == worker_id,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(status=OutboxStatus.QUEUED, lease_until=None, claimed_by=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- rate limits and timeouts -------------------------------------------------------------


class TokenBucket:
    """``rate`` sends per second with bursts of up to ``burst`` (thread-safe)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            if stop is not None:
                stop.wait(wait)  # a stop request does not cut the wait short of sending:
            else:  # the row was claimed and guarded; it goes out (or is released) next
                time.sleep(wait)


class RateLimiters:
    """One token bucket per provider (adapter name), shared by a process's sending threads.
    Limits are per worker process: run N workers, divide the provider's quota by N."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self._buckets = {name: TokenBucket(rate) for name, rate in rates.items() if rate > 0}

    def acquire(self, provider: str, stop: threading.Event | None = None) -> None:
        bucket = self._buckets.get(provider)
        if bucket is not None:
            bucket.acquire(stop)


class _Box:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class TimedCaller:
    """Runs calls on a daemon thread and waits at most ``timeout`` for each.

    A provider that hangs (no answer, no socket timeout) is abandoned: the caller gets
    :class:`SendTimeout` and carries on with a fresh thread, while the stuck one is told to exit
    when its call finally returns. The worker never stalls behind one connection.
    """

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], _Box] | None]
        self._start()

    def _start(self) -> None:
        self._requests = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._serve, args=(self._requests,), name="adimple-send", daemon=True
        )
        thread.start()

    @staticmethod
    def _serve(
        requests: queue.SimpleQueue[tuple[Callable[[], Any], _Box] | None],
    ) -> None:
        while True:
            item = requests.get()
            if item is None:
                return
            fn, box = item
            try:
                box.result = fn()
            except BaseException as exc:
                box.error = exc
            box.done.set()

    def call(self, fn: Callable[[], Any], timeout: float) -> Any:
        box = _Box()
        self._requests.put((fn, box))
        if not box.done.wait(timeout):
            self._requests.put(None)  # the stuck thread exits once its call returns
            self._start()
            raise SendTimeout(f"no answer from the provider within {timeout:g} s")
        if box.error is not None:
            raise box.error
        return box.result

    def close(self) -> None:
        self._requests.put(None)


# --- the sending loop -------------------------------------------------------------------


_WRITE_NEEDED = object()  # _prepare's answer: decide again, under the write lock


@dataclass(frozen=True)
class _Prepared:
    message_id: uuid.UUID
    tenant_id: uuid.UUID
    contact_point_id: uuid.UUID | None
    attempts: int
    outgoing: OutgoingMessage
    adapter: ChannelAdapter
    # Batch path only: what the guards read (``compliance.guard_state``) and the debtor's UF,
    # compared again just before the send.
    state: tuple[Any, ...] | None = None
    uf: str | None = None


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:ERROR_LENGTH]


class Dispatcher:
    """One sending loop (one thread). Not thread-safe: run one per thread, each with its own
    adapters (an SMTP connection is not shareable); rate limiters may be shared."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        worker_id: str,
        config: DispatchConfig | None = None,
        clock: Clock = utcnow,
        limiters: RateLimiters | None = None,
        stop: threading.Event | None = None,
        adapters: AdapterFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.worker_id = worker_id
        self.config = config or DispatchConfig()
        self.clock = clock
        self.limiters = limiters or RateLimiters(self.config.rate_limits)
        self.stop = stop or threading.Event()
        self._adapter_factory = adapters
        self._adapters: dict[uuid.UUID, tuple[float, Mapping[Channel, ChannelAdapter]]] = {}
        self._caller = TimedCaller()
        self.rng = rng or random.Random()
        self.stats = DispatchStats()
        # The batch being sent: rows prepared with it, the order left, those re-checked just now.
        self._ready: dict[uuid.UUID, _Prepared] = {}
        self._remaining: deque[uuid.UUID] = deque()
        self._verified: set[uuid.UUID] = set()
        self._verified_at = 0.0
        bind = sessions.kw.get("bind")
        self._send_path = (
            _PgSendPath(bind)
            if isinstance(bind, Engine)
            and bind.dialect.name == "postgresql"
            and bind.dialect.driver == "psycopg"
            else None
        )
        self._next_recovery = 0.0  # monotonic time of the next look for expired leases
        # PostgreSQL: the next row's fingerprint, read with the previous row's result.
        self._prechecked: tuple[uuid.UUID, tuple[Any, ...] | None, float] | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.config.lease_seconds)

    def close(self) -> None:
        # Kept connections (SMTP) belong to the sending thread: end them there.
        for _, adapters in self._adapters.values():
            for adapter in adapters.values():
                disconnect = getattr(adapter, "disconnect", None)
                if disconnect is not None:
                    try:
                        self._caller.call(disconnect, 5.0)
                    except Exception:  # the server is gone already: nothing to end
                        log.debug("could not disconnect %s", adapter.name, exc_info=True)
        self._caller.close()
        self._adapters.clear()
        if self._send_path is not None:
            self._send_path.close()

    # One batch ------------------------------------------------------------------------

    def run_batch(self) -> int:
        """Claims one batch and works through it; returns how many rows were claimed
        (0 means nothing is due). On a stop request the rows not yet sent are released."""
        recover = time.monotonic() >= self._next_recovery
        with self.sessions() as session:
            claim = claim_due(
                session,
                worker_id=self.worker_id,
                now=self.clock(),
                limit=self.config.batch,
                lease=self.lease,
                max_attempts=self.config.max_attempts,
                tenant_id=self.config.tenant_id,
                recover=recover,
            )
            session.commit()
        if recover:
            self._next_recovery = time.monotonic() + min(
                RECOVERY_SECONDS, self.config.lease_seconds / 4
            )
        self.stats.claimed += len(claim.ids)
        self.stats.failed += claim.given_up
        remaining = deque(claim.ids)
        lease_until = claim.lease_until
        try:
            self._ready, self._verified = {}, set()
            if remaining and not self.stop.is_set():
                self._ready = prepared = self._prepare_batch(claim.ids)
                # What was prepared goes first; the rest takes the one-row path after it.
                remaining = deque(
                    [i for i in claim.ids if i in prepared]
                    + [i for i in claim.ids if i not in prepared]
                )
            self._remaining = remaining
            while remaining and not self.stop.is_set():
                margin = min(LEASE_MARGIN_SECONDS, self.config.lease_seconds / 4)
                needed = timedelta(seconds=self.config.send_timeout_seconds + margin)
                if lease_until - self.clock() < needed:
                    remaining, lease_until = self._renew(remaining)
                    self._remaining = remaining
                    if not remaining:
                        break
                self.process(remaining.popleft())
        finally:
            self._ready, self._remaining = {}, deque()
            if remaining:
                self._release(list(remaining))
        return len(claim.ids) + claim.given_up

    def _renew(self, remaining: deque[uuid.UUID]) -> tuple[deque[uuid.UUID], datetime]:
        now = self.clock()
        with self.sessions() as session:
            kept = renew_leases(
                session, worker_id=self.worker_id, ids=list(remaining), now=now, lease=self.lease
            )
            session.commit()
        self.stats.lost += len(remaining) - len(kept)
        return deque(i for i in remaining if i in kept), now + self.lease

    def _release(self, ids: list[uuid.UUID]) -> None:
        try:
            with self.sessions() as session:
                self.stats.released += release_claims(
                    session, worker_id=self.worker_id, ids=ids, now=self.clock()
                )
                session.commit()
        except Exception:  # the leases expire on their own
            log.exception("could not release %d claimed messages", len(ids))

    # One row --------------------------------------------------------------------------

    def process(self, message_id: uuid.UUID) -> None:
        """Guards → render → send → record, for one claimed row. Never raises.

        A row prepared with its batch (``run_batch``) only has its guards looked at once more
        before the send; any other row, or one whose facts changed since, is guarded and
        rendered here, alone."""
        ready = self._ready.pop(message_id, None)
        if ready is not None and self._still_sendable(ready):
            self._send(ready)
            return
        try:
            prepared = self._prepare(message_id, read_only=True)
            if prepared is _WRITE_NEEDED:
                prepared = self._prepare(message_id, read_only=False)
        except Exception as exc:
            log.exception("outbox %s: could not prepare", message_id)
            self._record_retry(message_id, exc)
            return
        if isinstance(prepared, _Prepared):
            self._send(prepared)

    def _send(self, prepared: _Prepared) -> None:
        """Send → record, for a row whose guards passed and which is rendered."""
        from adimple.messaging.channels.base import PermanentSendError, TransientSendError

        message_id = prepared.message_id
        try:
            self.limiters.acquire(prepared.adapter.name, self.stop)
            result: SendResult = self._caller.call(
                lambda: prepared.adapter.send(prepared.outgoing),
                self.config.send_timeout_seconds,
            )
        except PermanentSendError as exc:
            self._record_permanent(prepared, exc)
            return
        except (TransientSendError, SendTimeout) as exc:
            if isinstance(exc, SendTimeout):
                # The adapter may be mid-conversation on the abandoned thread: build a new one.
                self._adapters.pop(prepared.tenant_id, None)
            self._record_retry(message_id, exc, attempts=prepared.attempts)
            return
        except Exception as exc:  # an adapter bug or an unexpected library error
            log.exception("outbox %s: unexpected error from %s", message_id, prepared.adapter.name)
            self._adapters.pop(prepared.tenant_id, None)
            self._record_retry(message_id, exc, attempts=prepared.attempts)
            return
        self._record_sent(prepared, result)

    def _prepare_batch(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, _Prepared]:
        """Guards and rendering for a whole claimed batch, with the facts read set-wise (about
        ten queries per batch instead of ~15 per row). Only rows that may go now are returned;
        every other decision (cancel, reschedule, render failure), a row not ours any more,
        and a customer's second row in the batch (the frequency caps must see the first one's
        result) are left to the one-row path, which decides them again and writes.

        Nothing is written here: on SQLite it is a read-only (deferred) transaction, so workers
        prepare in parallel. No row is locked: what is decided here only counts if the row's
        fingerprint, read first, is unchanged right before its send. Any error here sends the
        whole batch down the one-row path.
        """
        from adimple.compliance import service as compliance
        from adimple.messaging.render import (
            UNBILLED_TENANTS,
            open_receivables_for,
            render_outbox_message,
        )

        now = self.clock()
        prepared: dict[uuid.UUID, _Prepared] = {}
        try:
            with self.sessions() as session:
                sqlite = session.get_bind().dialect.name == "sqlite"
                if sqlite:
                    session.connection(execution_options={READ_ONLY_OPTION: True})
                session.info[UNBILLED_TENANTS] = set()
                # The fingerprints first (status and claim included), everything else after:
                # a change landing after this read makes the send-time fingerprint differ, and
                # the row is decided again alone. So no row locks are needed (on PostgreSQL
                # they were a WAL record per row): nothing is written here.
                states = (
                    self._send_path.batch_states(session, ids)
                    if self._send_path is not None
                    else compliance.guard_state(session, ids)
                )
                candidates: list[OutboxMessage] = []
                customers: set[tuple[uuid.UUID, uuid.UUID]] = set()
                for message in session.scalars(
                    select(OutboxMessage).where(dialect.one_of(session, OutboxMessage.id, ids))
                ):
                    who = (message.tenant_id, message.customer_id)
                    state = states.get(message.id)
                    if (
                        state is not None
                        and state[0] == OutboxStatus.SENDING
                        and state[1] == self.worker_id
                        and message.status == OutboxStatus.SENDING
                        and message.claimed_by == self.worker_id
                        and who not in customers
                    ):
                        candidates.append(message)
                        customers.add(who)
                facts = compliance.load_send_facts(session, candidates, now=now)
                receivables = open_receivables_for(session, candidates)
                for message in candidates:
                    if not compliance.check_before_send(
                        session, message, now=now, facts=facts
                    ).send:
                        continue
                    adapter = self._adapter_for(session, message)
                    if adapter is None:
                        continue
                    try:
                        outgoing = render_outbox_message(
                            session,
                            message,
                            now=now,
                            receivables=receivables[message.id],
                            tenant=facts.tenants.get(message.tenant_id),
                            customer=facts.customers.get(message.customer_id),
                        )
                    except DomainError:  # NothingToCollect, RenderError…: decided one by one
                        continue
                    prepared[message.id] = _Prepared(
                        message_id=message.id,
                        tenant_id=message.tenant_id,
                        contact_point_id=message.contact_point_id,
                        attempts=message.attempts,
                        outgoing=outgoing,
                        adapter=adapter,
                        state=states.get(message.id),
                        uf=facts.customers[message.customer_id].uf,
                    )
                session.commit()
        except Exception:
            log.exception("could not prepare a batch of %d: one row at a time", len(ids))
            return {}
        return prepared

    def _still_sendable(self, ready: _Prepared) -> bool:
        """The guards' last look before the provider call, for a row prepared with its batch.

        Whatever the guards read that can change (a payment, an agreement, an opt-out, the
        case, the customer's flags, the contact point, our claim) is compared with what they
        saw, for this row and the next few prepared ones in one query (``RECHECK_EVERY`` rows,
        at most ``RECHECK_SECONDS`` old); a row that changed goes through the one-row path
        (guards and rendering again). The contact window is checked again in Python.
        """
        from adimple.compliance import service as compliance
        from adimple.compliance.rules import DEFAULT_POLICY
        from adimple.kit.calendar import is_within_contact_window

        if ready.outgoing.channel != Channel.LETTER and not is_within_contact_window(
            self.clock(), ready.uf, DEFAULT_POLICY.window
        ):
            return False
        if self._send_path is not None:
            return self._still_sendable_pg(ready)
        fresh = time.monotonic() - self._verified_at < RECHECK_SECONDS
        if not (fresh and ready.message_id in self._verified):
            chunk = [ready]
            for message_id in self._remaining:
                if len(chunk) >= RECHECK_EVERY:
                    break
                if message_id in self._ready:
                    chunk.append(self._ready[message_id])
            self._verified_at = time.monotonic()
            try:
                with self.sessions() as session:
                    if session.get_bind().dialect.name == "sqlite":
                        session.connection(execution_options={READ_ONLY_OPTION: True})
                    states = compliance.guard_state(session, [p.message_id for p in chunk])
                    session.rollback()
            except Exception:  # the one-row path records what goes wrong
                log.exception("could not check %d rows again before sending", len(chunk))
                self._verified = set()
                return False
            self._verified = {p.message_id for p in chunk if states.get(p.message_id) == p.state}
        return ready.message_id in self._verified

    def _still_sendable_pg(self, ready: _Prepared) -> bool:
        """PostgreSQL: the fingerprint read with the previous row's result (just now), or
        read here when there was none."""
        assert self._send_path is not None
        checked, self._prechecked = self._prechecked, None
        if (
            checked is not None
            and checked[0] == ready.message_id
            and time.monotonic() - checked[2] < RECHECK_SECONDS
        ):
            state = checked[1]
        else:
            try:
                _, state = self._send_path.record_and_check(None, ready.message_id)
            except Exception:  # the one-row path records what goes wrong
                log.exception("outbox %s: could not check again before sending", ready.message_id)
                return False
        return state is not None and state == ready.state

    def _next_prepared(self) -> uuid.UUID | None:
        """The row sent next, if it was prepared with its batch."""
        if self._remaining and self._remaining[0] in self._ready:
            return self._remaining[0]
        return None

    def _prepare(self, message_id: uuid.UUID, *, read_only: bool) -> _Prepared | object | None:
        """Guards and rendering. Returns what to send, None when the row was decided here
        (cancelled, rescheduled, failed: committed), or ``_WRITE_NEEDED``.

        On SQLite every transaction takes the single write lock, so the usual case — the row
        may go — is checked in a read-only (deferred) transaction and two workers render in
        parallel; a decision that writes is taken again under the write lock
        (``_WRITE_NEEDED``), since the snapshot it was read from may be stale by then.
        """
        from adimple.compliance import service as compliance
        from adimple.messaging.render import NothingToCollect, RenderError, render_outbox_message

        now = self.clock()
        with self.sessions() as session:
            sqlite = session.get_bind().dialect.name == "sqlite"
            read_only = read_only and sqlite
            if read_only:
                session.connection(execution_options={READ_ONLY_OPTION: True})
            # The row lock (PostgreSQL) keeps a claimer whose view of our lease is stale off
            # the row while we decide; SQLite is single-writer already.
            message = session.get(OutboxMessage, message_id, with_for_update=True)
            if (
                message is None
                or message.status != OutboxStatus.SENDING
                or message.claimed_by != self.worker_id
            ):
                self.stats.lost += 1
                return None
            decision = compliance.check_before_send(session, message, now=now)
            if read_only and not decision.send:
                return _WRITE_NEEDED
            if decision.reason is not None:
                self._cancel(session, message, decision.reason, now)
                return None
            if not decision.send:
                # Outside the debtor's contact window or over a frequency cap: try again when
                # allowed. Not an attempt: nothing was sent and nothing failed.
                message.status = OutboxStatus.QUEUED
                later = decision.not_before
                if later is None or later <= now:  # never due again at once: no busy loop
                    later = now + backoff_delay(
                        1,
                        base=self.config.backoff_base_seconds,
                        cap=self.config.backoff_cap_seconds,
                        rng=self.rng,
                    )
                message.next_attempt_at = later
                message.lease_until = None
                message.claimed_by = None
                session.commit()
                self.stats.rescheduled += 1
                return None
            adapter = self._adapter_for(session, message)
            if adapter is None:
                if read_only:
                    return _WRITE_NEEDED
                self._fail(session, message, f"no adapter configured for {message.channel}", now)
                return None
            try:
                outgoing = render_outbox_message(session, message, now=now)
            except NothingToCollect:
                if read_only:
                    return _WRITE_NEEDED
                # Everything it was about was settled after the guards looked (a race with a
                # payment): nothing to say any more.
                self._cancel(session, message, SuppressionReason.PAID, now)
                return None
            except (RenderError, DomainError) as exc:
                if read_only:
                    return _WRITE_NEEDED
                # A template or data problem: retrying would render the same thing.
                self._fail(session, message, f"render: {exc}", now)
                return None
            prepared = _Prepared(
                message_id=message.id,
                tenant_id=message.tenant_id,
                contact_point_id=message.contact_point_id,
                attempts=message.attempts,
                outgoing=outgoing,
                adapter=adapter,
            )
            # End the transaction before the network call (on SQLite it holds the write lock).
            session.commit()
            return prepared

    def _cancel(
        self, session: Session, message: OutboxMessage, reason: SuppressionReason, now: datetime
    ) -> None:
        from adimple.compliance import service as compliance

        message.status = OutboxStatus.CANCELLED
        message.cancel_reason = reason.value
        message.lease_until = None
        message.updated_at = now
        compliance.record_suppression(session, message, reason, now=now)
        session.commit()
        self.stats.cancelled += 1

    def _fail(self, session: Session, message: OutboxMessage, error: str, now: datetime) -> None:
        message.status = OutboxStatus.FAILED
        message.attempts += 1
        message.last_error = error[:ERROR_LENGTH]
        message.lease_until = None
        message.updated_at = now
        session.commit()
        self.stats.failed += 1

    def _adapter_for(self, session: Session, message: OutboxMessage) -> ChannelAdapter | None:
        cached = self._adapters.get(message.tenant_id)
        now = time.monotonic()
        if cached is None or now - cached[0] > self.config.adapter_ttl_seconds:
            factory = self._adapter_factory
            if factory is None:
                from adimple.messaging.channels import adapters_for_tenant

                factory = adapters_for_tenant
            cached = (now, factory(session, message.tenant_id))
            self._adapters[message.tenant_id] = cached
        return cached[1].get(Channel(message.channel))

    # Results ---------------------------------------------------------------------------

    def _mine(self, message_id: uuid.UUID) -> Any:
        return and_(OutboxMessage.id == message_id, OutboxMessage.claimed_by == self.worker_id)

    def _record_sent(self, prepared: _Prepared, result: SendResult) -> None:
        now = self.clock()
        outgoing = prepared.outgoing
        statement = _sent_statement()
        values = {
            "_id": prepared.message_id,
            "_me": self.worker_id,
            "v_provider": result.provider[:40],
            "v_provider_message_id": result.provider_message_id,
            "v_sent_at": now,
            "v_attempts": prepared.attempts + 1,
            "v_subject": (outgoing.subject or None) and outgoing.subject[:SUBJECT_LENGTH],
            "v_body": outgoing.text,
            "v_updated_at": now,
        }
        # The provider has the message: try hard to record it, since a row left `sending`
        # is sent again when its lease expires.
        for attempt in range(5):
            try:
                if self._send_path is not None:
                    following = self._next_prepared()
                    updated, state = self._send_path.record_and_check(values, following)
                    if following is not None:
                        self._prechecked = (following, state, time.monotonic())
                else:
                    with self.sessions() as session:
                        updated = session.connection().execute(statement, values).rowcount
                        session.commit()
                if not updated:
                    log.warning("outbox %s: sent, but our claim was lost", prepared.message_id)
                    self.stats.lost += 1
                    return
                self.stats.sent += 1
                return
            except Exception:
                log.exception("outbox %s: could not record the send", prepared.message_id)
                time.sleep(0.2 * (attempt + 1))

    def _record_retry(
        self, message_id: uuid.UUID, exc: BaseException, *, attempts: int | None = None
    ) -> None:
        now = self.clock()
        try:
            with self.sessions() as session:
                if attempts is None:
                    attempts = session.scalar(
                        select(OutboxMessage.attempts).where(self._mine(message_id))
                    )
                    if attempts is None:
                        return
                attempts += 1
                values: dict[str, Any] = {
                    "attempts": attempts,
                    "last_error": _short(exc),
                    "lease_until": None,
                    "updated_at": now,
                }
                if attempts >= self.config.max_attempts:
                    values["status"] = OutboxStatus.FAILED
                    self.stats.failed += 1
                else:
                    values |= {
                        "status": OutboxStatus.QUEUED,
                        "claimed_by": None,
                        "next_attempt_at": now
                        + backoff_delay(
                            attempts,
                            base=self.config.backoff_base_seconds,
                            cap=self.config.backoff_cap_seconds,
                            rng=self.rng,
                        ),
                    }
                    self.stats.retried += 1
                session.execute(
                    update(OutboxMessage)
                    .where(self._mine(message_id), OutboxMessage.status == OutboxStatus.SENDING)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
        except Exception:  # the lease expires and the row is taken up again
            log.exception("outbox %s: could not record the failure", message_id)

    def _record_permanent(self, prepared: _Prepared, exc: BaseException) -> None:
        """The provider refused the message for good: it failed. When the address itself is bad
        (``address_invalid``: unknown number, mailbox does not exist) the contact point is
        marked invalid too, so the guards skip it from now on."""
        now = self.clock()
        reason = _short(exc)
        with self.sessions() as session:
            session.execute(
                update(OutboxMessage)
                .where(self._mine(prepared.message_id))
                .values(
                    status=OutboxStatus.FAILED,
                    attempts=prepared.attempts + 1,
                    last_error=reason,
                    lease_until=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if prepared.contact_point_id is not None and getattr(exc, "address_invalid", True):
                invalidate_contact_point(
                    session,
                    tenant_id=prepared.tenant_id,
                    contact_point_id=prepared.contact_point_id,
                    reason=reason,
                    now=now,
                    actor=f"worker:{self.worker_id}",
                )
            session.commit()
        self.stats.failed += 1


@lru_cache(maxsize=1)
def _sent_statement() -> Update:
    """The result of a send, as one Core statement built once (building it per message was a
    tenth of a worker's CPU): only while the row is still ours."""
    table = cast(Table, OutboxMessage.__table__)
    columns = table.c
    # A delivery/read webhook can beat this commit (it records only the time then): the
    # status takes the furthest stage already known, never moving backwards.
    status = case(
        (columns.status != OutboxStatus.SENDING.value, columns.status),
        (columns.read_at.is_not(None), OutboxStatus.READ.value),
        (columns.delivered_at.is_not(None), OutboxStatus.DELIVERED.value),
        else_=OutboxStatus.SENT.value,
    )
    return (
        update(table)
        .where(columns.id == bindparam("_id"), columns.claimed_by == bindparam("_me"))
        .values(
            status=status,
            provider=bindparam("v_provider"),
            provider_message_id=bindparam("v_provider_message_id"),
            sent_at=bindparam("v_sent_at"),
            attempts=bindparam("v_attempts"),
            lease_until=None,
            last_error=case(
                (columns.status != OutboxStatus.SENDING.value, columns.last_error), else_=None
            ),
            subject=bindparam("v_subject"),
            body=bindparam("v_body"),
            updated_at=bindparam("v_updated_at"),
        )
    )


@dataclass(frozen=True)
class _RawStatement:
    """A Core statement compiled once for PostgreSQL (psycopg), run on the driver's cursor:
    SQLAlchemy's per-execution work cost more CPU than PostgreSQL's for these."""

    sql: str
    defaults: dict[str, Any]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values}


def _compile_for_postgresql(statement: Any) -> _RawStatement:
    """Compiled once; the statement's constants (statuses, NULL, 1) are written into the SQL
    as literals — psycopg would adapt each again on every execution, about half of the
    parameters of the per-message statement — and only the named parameters stay bound."""
    from enum import Enum

    from sqlalchemy.dialects import postgresql

    dialect = postgresql.psycopg.dialect()
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    defaults: dict[str, Any] = {}
    for name, value in compiled.params.items():
        bind = compiled.binds[name]
        if isinstance(value, Enum):
            value = value.value
        render = bind.type.literal_processor(dialect) if not bind.required else None
        placeholder = f"%({name})s"
        if render is not None and sql.count(placeholder) >= 1:
            sql = sql.replace(placeholder, "NULL" if value is None else render(value))
        else:
            defaults[name] = value
    return _RawStatement(sql, defaults)


@lru_cache(maxsize=1)
def _pg_statements() -> tuple[_RawStatement, _RawStatement]:
    """PostgreSQL's send path: (1) the guards' fingerprint of a batch (``ids``) and (2) one
    statement that records a send (``_id`` … as :func:`_sent_statement`; ``_id`` NULL records
    nothing) and reads the fingerprint of the next row (``next_id``; NULL reads nothing).
    Its first column is how many rows the record updated, the rest as (1)."""
    from sqlalchemy import Uuid, any_, literal, true
    from sqlalchemy.dialects.postgresql import ARRAY

    from adimple.compliance.service import guard_state_select

    table = cast(Table, OutboxMessage.__table__)
    guard = guard_state_select()
    batch = guard.where(OutboxMessage.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    done = _sent_statement().returning(table.c.id).cte("done")
    following = guard.where(OutboxMessage.id == bindparam("next_id", type_=Uuid())).lateral(
        "following"
    )
    one = select(literal(1).label("one")).subquery("one")
    combined = select(
        select(func.count()).select_from(done).scalar_subquery(), *following.c
    ).select_from(one.outerjoin(following, true()))
    return _compile_for_postgresql(batch), _compile_for_postgresql(combined)


class _PgSendPath:
    """The send path's database work on PostgreSQL: one round trip per message.

    Each send's result is recorded by a statement that also reads the guards' fingerprint of
    the next row — the re-check right before that row's send — on a connection of its own in
    autocommit: the statement is its own transaction, so the result is committed before the
    next row goes out (a kill loses at most the row in flight, as before), in one round trip
    instead of six (BEGIN, re-check, ROLLBACK, BEGIN, UPDATE, COMMIT).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._raw: Any = None
        self._cursor: Any = None

    def batch_states(
        self, session: Session, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Any, ...]]:
        """The fingerprints of ``ids`` in the session's transaction, as the send path reads
        them (driver values, so the two compare equal when nothing changed)."""
        if not ids:
            return {}
        batch, _ = _pg_statements()
        rows = session.connection().exec_driver_sql(batch.sql, batch.params({"ids": ids}))
        return {row[0]: tuple(row[1:]) for row in rows}

    def record_and_check(
        self, result: Mapping[str, Any] | None, next_id: uuid.UUID | None
    ) -> tuple[int, tuple[Any, ...] | None]:
        """Records ``result`` (the values of :func:`_sent_statement`), if any, and returns how
        many rows that updated and the fingerprint of ``next_id`` (None: gone or not asked)."""
        _, combined = _pg_statements()
        values: dict[str, Any] = dict(result) if result is not None else {"_id": None, "_me": None}
        values["next_id"] = next_id
        if self._raw is None:
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            except BaseException:
                raw.invalidate()
                raise
            self._raw = raw
            # One cursor for the connection's life (a cursor per message was measurable).
            self._cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor = self._cursor
            cursor.execute(combined.sql, combined.params(values), prepare=True)
            row = cursor.fetchone()
        except BaseException:
            self.discard()
            raise
        assert row is not None
        state = tuple(row[2:]) if row[1] is not None else None
        return int(row[0]), state

    def discard(self) -> None:
        raw, self._raw, self._cursor = self._raw, None, None
        if raw is not None:
            raw.invalidate()

    def close(self) -> None:
        raw, cursor, self._raw, self._cursor = self._raw, self._cursor, None, None
        if raw is None:
            return
        try:
            if cursor is not None:
                cursor.close()
            raw.driver_connection.autocommit = False  # as the pool hands connections out
            raw.close()
        except Exception:
            raw.invalidate()


def invalidate_contact_point(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    contact_point_id: uuid.UUID,
    reason: str,
    now: datetime,
    actor: str,
) -> bool:
    """Marks a contact point invalid (first reason kept) and audits it; flushes."""
    point = session.scalar(
        select(ContactPoint).where(
            ContactPoint.tenant_id == tenant_id, ContactPoint.id == contact_point_id
        )
    )
    if point is None or point.invalid_at is not None:
        return False
    point.invalid_at = now
    point.invalid_reason = reason[:200]
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="contact_point.invalidated",
        entity_type="contact_point",
        entity_id=point.id,
        data={"reason": point.invalid_reason},
    )
    session.flush()
    return True
