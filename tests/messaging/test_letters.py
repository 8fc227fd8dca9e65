"""Letters: A4 PDFs with the creditor header, print batches (merged PDF + manifest CSV), and
the same idempotency key never printing twice."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from pathlib import Path

import pytest
from pypdf import PdfReader
from render_helpers import NOW, customer_with_debt, outbox_for
from sqlalchemy.orm import Session

from adimple.messaging.channels.base import OutgoingMessage, PermanentSendError
from adimple.messaging.channels.letter import LetterAdapter, render_letter_pdf
from adimple.messaging.render import clear_caches, render_outbox_message
from adimple.portfolio.models import Channel
from adimple.tenancy.models import Tenant

A4_POINTS = (595, 842)


def _letter(session: Session, tenant: Tenant, name: str = "Maria da Silva") -> OutgoingMessage:
    clear_caches()
    customer, receivables = customer_with_debt(session, tenant, name=name)
    message = outbox_for(
        session, tenant, customer, receivables, channel=Channel.LETTER, template="carta_cobranca"
    )
    return render_outbox_message(session, message, now=NOW)


def _media_boxes(pdf: bytes) -> list[tuple[int, int]]:
    """Every page's MediaBox, read by a real PDF parser.

    WeasyPrint keeps the page dictionaries in compressed object streams; a regular expression
    over the bytes cut a stream whose last compressed byte was a carriage return and found no
    page at all about once in a hundred renders."""
    reader = PdfReader(io.BytesIO(pdf))
    return [
        (round(float(page.mediabox.width)), round(float(page.mediabox.height)))
        for page in reader.pages
    ]


class TestLetterPdf:
    def test_a4_pdf_with_the_letter(self, session: Session, tenant: Tenant) -> None:
        message = _letter(session, tenant)
        letter = render_letter_pdf(message.html or "")
        assert letter.pdf.startswith(b"%PDF-")
        assert letter.pages >= 1
        assert set(_media_boxes(letter.pdf)) == {A4_POINTS}


class TestBatches:
    def test_letters_batch_into_one_bundle_with_a_manifest(
        self, session: Session, tenant: Tenant, tmp_path: Path
    ) -> None:
        adapter = LetterAdapter(tenant=tenant.slug, directory=tmp_path)
        first = _letter(session, tenant, "Maria da Silva")
        second = _letter(session, tenant, "João Souza")
        r1 = adapter.send(first)
        r2 = adapter.send(second)
        assert r1.provider == "letter" and r1.provider_message_id.endswith("/1")
        assert r2.provider_message_id.endswith("/2")
        assert len(adapter.open_batch()) == 2

        bundle = adapter.close_batch()
        assert bundle is not None and bundle.letters == 2
        pdf = bundle.pdf_path.read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert len(_media_boxes(pdf)) == bundle.pages >= 2
        rows = list(csv.DictReader(bundle.manifest_path.open(encoding="utf-8")))
        assert [r["sequence"] for r in rows] == ["1", "2"]
        assert [r["idempotency_key"] for r in rows] == [
            first.idempotency_key,
            second.idempotency_key,
        ]
        assert rows[0]["customer"] == "Maria da Silva"
        assert rows[0]["address"].startswith("Rua das Flores, 10")
        letters_dir = bundle.directory / "letters"
        own_pdf = next(letters_dir.glob("000001-*.pdf")).read_bytes()
        assert rows[0]["sha256"] == hashlib.sha256(own_pdf).hexdigest()
        assert int(rows[0]["pages"]) >= 1
        assert adapter.open_batch() == [] and adapter.close_batch() is None

    def test_the_same_key_is_never_added_twice(
        self, session: Session, tenant: Tenant, tmp_path: Path
    ) -> None:
        adapter = LetterAdapter(tenant=tenant.slug, directory=tmp_path)
        message = _letter(session, tenant)
        first = adapter.send(message)
        assert adapter.send(message) == first
        assert len(adapter.open_batch()) == 1
        adapter.close_batch()
        # Even after the batch went to the printer, a resend adds nothing.
        assert LetterAdapter(tenant=tenant.slug, directory=tmp_path).send(message) == first
        assert adapter.open_batch() == []

    def test_a_letter_needs_a_postal_address(self, tmp_path: Path) -> None:
        adapter = LetterAdapter(tenant="t", directory=tmp_path)
        message = OutgoingMessage(
            idempotency_key="k",
            channel=Channel.LETTER,
            to=" ",
            subject=None,
            text="x",
            html=None,
            template="carta_cobranca",
        )
        with pytest.raises(PermanentSendError):
            adapter.send(message)
        assert dataclasses.replace(message, to="Rua A, 1").to == "Rua A, 1"
