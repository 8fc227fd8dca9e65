"""Charges tables: the tenant's versioned collection policy and the index values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from adimple.charges.indices import SeriesName
from adimple.db.base import Base, IdMixin, TenantMixin, UTCDateTime, str_enum, utcnow


class CollectionPolicy(IdMixin, TenantMixin, Base):
    """Política de cobrança: one immutable version per row; the highest version is active.

    ``document`` is the validated policy as JSON (percentages and money as strings, never
    floats). Rows are never updated: a change is a new version, with an audit event.
    """

    __tablename__ = "collection_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class IndexValue(IdMixin, Base):
    """Valor mensal de um índice (IPCA, SELIC, IPCA-15, taxa legal) imported after the release.

    Global reference data, the one deliberate exception to "every row has tenant_id": the
    published indices are the same for every creditor. ``percent`` keeps the published decimal
    as text (``"0.379020"``) so no float or SQLite NUMERIC ever touches it. These rows are laid
    over the series shipped with the package.
    """

    __tablename__ = "index_value"
    __table_args__ = (UniqueConstraint("series", "month"),)

    series: Mapped[SeriesName] = mapped_column(str_enum(SeriesName, "index_series"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    percent: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
