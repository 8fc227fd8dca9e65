"""The columns stored encrypted (:mod:`adimple.kit.crypto`), and their key rotation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Connection, Table, Text, select, type_coerce

from adimple.db.models import Base
from adimple.kit.crypto import EncryptedText, EncryptedValues, rotate


def encrypted_columns() -> list[tuple[Table, Column[Any]]]:
    """Every encrypted column of the schema, found by its type (a new one needs no listing)."""
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText | EncryptedValues)
    ]


def rotate_secrets(conn: Connection) -> dict[str, int]:
    """Re-encrypts every stored secret with the first key of ``ADIMPLE_ENCRYPTION_KEYS``, in the
    caller's transaction: a value no key decrypts stops it (nothing is half-rotated).
    Returns the values rotated per ``table.column``."""
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        name = f"{table.name}.{column.name}"
        is_text = isinstance(column.type, EncryptedText)
        as_stored = Text() if is_text else JSON()  # the tokens, past the column's own type
        raw = type_coerce(column, as_stored)
        done = 0
        for row_id, value in conn.execute(
            select(table.c.id, raw).where(column.is_not(None)).order_by(table.c.id)
        ).all():
            if is_text:
                new: Any = rotate(value, what=f"{name} of row {row_id}")
            else:
                new = {
                    k: None if v is None else rotate(v, what=f"{name}[{k!r}] of row {row_id}")
                    for k, v in (value or {}).items()
                }
            conn.execute(
                table.update()
                .where(table.c.id == row_id)
                .values({column.name: type_coerce(new, as_stored)})
            )
            done += 1
        counts[name] = done
    return counts
