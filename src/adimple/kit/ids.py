"""Identifiers for rows written in bulk."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def time_ordered_uuid() -> uuid.UUID:
    """A version-7 UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.

    For the rows the daily cycle writes by the ten thousand (case events, outbox rows,
    suppressions, tasks, new cases). A random (version-4) key lands each new row on a random
    leaf of the primary-key index, and after a checkpoint PostgreSQL writes every leaf it first
    touches whole into the WAL; keys that grow with time fill the index's rightmost leaves
    instead. The random part keeps them as hard to guess as any other id here.
    """
    return time_ordered_uuids(1)[0]


# The 4 version bits (76-79) and the 2 variant bits (62-63), which the random part must not
# set, and the value they take in every id: version 7, RFC 9562 variant (10).
_RANDOM_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 80) - 1)
_VERSION_VARIANT = (0x7 << 76) | (0x2 << 62)


def time_ordered_uuids(count: int) -> list[uuid.UUID]:
    """``count`` :func:`time_ordered_uuid` ids at once: one clock reading and one read of
    the random source for the lot (a day's cycle makes ~50,000, and one ``os.urandom`` call
    per id was most of their cost). Distinct by their random bits, all of the same
    millisecond."""
    millis = time.time_ns() // 1_000_000
    high = (millis & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_VARIANT
    random = os.urandom(10 * count)
    from_bytes, make = int.from_bytes, uuid.UUID
    return [
        make(int=high | from_bytes(random[k : k + 10], "big") & _RANDOM_MASK)
        for k in range(0, 10 * count, 10)
    ]


def with_time_ordered_ids(items: Sequence[T]) -> Iterator[tuple[uuid.UUID, T]]:
    """Each of ``items`` with a new :func:`time_ordered_uuid`, made in one batch."""
    return zip(time_ordered_uuids(len(items)), items, strict=True)
