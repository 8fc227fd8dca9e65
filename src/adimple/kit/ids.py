"""Identifiers for rows written in bulk."""

from __future__ import annotations

import os
import time
import uuid


def time_ordered_uuid() -> uuid.UUID:
    """A version-7 UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.

    For the rows the daily cycle writes by the ten thousand (case events, outbox rows,
    suppressions, tasks, new cases). A random (version-4) key lands each new row on a random
    leaf of the primary-key index, and after a checkpoint PostgreSQL writes every leaf it first
    touches whole into the WAL; keys that grow with time fill the index's rightmost leaves
    instead. The random part keeps them as hard to guess as any other id here.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant (10)
    return uuid.UUID(int=value)
