"""Letters: an A4 PDF per message (WeasyPrint), collected into print-house batches.

:meth:`LetterAdapter.send` renders the letter HTML (the renderer's fixed layout: creditor
header with name, CPF/CNPJ and address — CDC art. 42-A —, recipient block, itemised debt,
PIX/boleto block when available) to a PDF and adds it to the tenant's open batch in
``{ADIMPLE_LETTER_DIR or var/letters}/<tenant>/open/``. :meth:`LetterAdapter.close_batch`
writes the bundle for the print house into ``batches/<batch id>/``: one merged ``bundle.pdf``
and ``manifest.csv`` (sequence, idempotency key, customer, address, pages, sha256 of the
letter's own PDF). A key already added (to the open batch or an earlier one) is not added
again: the second send returns the first result.

Thread- and process-safe: the batch directory is guarded by a lock file (``fcntl.flock``) and
an in-process lock; the slow part (rendering, ~0.2 s a page) happens outside the lock.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adimple.messaging.channels.base import OutgoingMessage, PermanentSendError, SendResult

MANIFEST_COLUMNS = ("sequence", "idempotency_key", "customer", "address", "pages", "sha256")


def letter_root() -> Path:
    return Path(os.environ.get("ADIMPLE_LETTER_DIR", "var/letters"))


@dataclass(frozen=True)
class LetterPdf:
    pdf: bytes
    pages: int


@dataclass(frozen=True)
class BatchBundle:
    batch_id: str
    directory: Path
    pdf_path: Path
    manifest_path: Path
    letters: int
    pages: int


def render_letter_pdf(html: str) -> LetterPdf:
    """The letter as an A4 PDF (the page size and margins are in the layout's ``@page``)."""
    from weasyprint import HTML

    document = HTML(string=html).render()
    pdf = document.write_pdf()
    assert pdf is not None
    return LetterPdf(bytes(pdf), len(document.pages))


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class LetterAdapter:
    name = "letter"

    def __init__(self, *, tenant: str, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else letter_root() / tenant
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(self.directory.resolve(), threading.Lock())

    @property
    def open_dir(self) -> Path:
        return self.directory / "open"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.directory / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _index(self) -> dict[str, Any]:
        path = self.open_dir / "index.json"
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
        return {
            "batch_id": datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6],
            "letters": [],
        }

    def _write_index(self, index: dict[str, Any]) -> None:
        self.open_dir.mkdir(parents=True, exist_ok=True)
        temp = self.open_dir / "index.json.tmp"
        temp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temp, self.open_dir / "index.json")

    def _known(self, digest: str) -> SendResult | None:
        marker = self.directory / "keys" / digest
        if marker.exists():
            return SendResult(self.name, marker.read_text(encoding="utf-8").strip())
        return None

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to.strip():
            raise PermanentSendError("carta sem endereço postal", provider=self.name)
        digest = _key_hash(message.idempotency_key)
        known = self._known(digest)
        if known is not None:
            return known
        letter = render_letter_pdf(message.html or _text_as_html(message.text))
        with self._locked():
            known = self._known(digest)
            if known is not None:
                return known
            index = self._index()
            sequence = len(index["letters"]) + 1
            stem = f"{sequence:06d}-{digest[:12]}"
            self.open_dir.mkdir(parents=True, exist_ok=True)
            (self.open_dir / f"{stem}.pdf").write_bytes(letter.pdf)
            (self.open_dir / f"{stem}.html").write_text(
                message.html or _text_as_html(message.text), encoding="utf-8"
            )
            index["letters"].append(
                {
                    "sequence": sequence,
                    "stem": stem,
                    "idempotency_key": message.idempotency_key,
                    "customer": message.metadata.get("customer_name", ""),
                    "address": message.to,
                    "pages": letter.pages,
                    "sha256": hashlib.sha256(letter.pdf).hexdigest(),
                }
            )
            self._write_index(index)
            provider_id = f"{index['batch_id']}/{sequence}"
            (self.directory / "keys").mkdir(parents=True, exist_ok=True)
            (self.directory / "keys" / digest).write_text(provider_id, encoding="utf-8")
        return SendResult(self.name, provider_id)

    def open_batch(self) -> list[dict[str, Any]]:
        """The letters waiting in the open batch."""
        with self._locked():
            letters: list[dict[str, Any]] = self._index()["letters"]
            return letters

    def close_batch(self) -> BatchBundle | None:
        """Writes the print-house bundle of the open batch; None when it is empty."""
        from weasyprint import HTML

        with self._locked():
            index = self._index()
            letters = index["letters"]
            if not letters:
                return None
            documents = [
                HTML(string=(self.open_dir / f"{item['stem']}.html").read_text("utf-8")).render()
                for item in letters
            ]
            pages = [page for document in documents for page in document.pages]
            merged = documents[0].copy(pages).write_pdf()
            assert merged is not None
            target = self.directory / "batches" / index["batch_id"]
            target.mkdir(parents=True, exist_ok=True)
            pdf_path = target / "bundle.pdf"
            pdf_path.write_bytes(bytes(merged))
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(MANIFEST_COLUMNS)
            for item in letters:
                writer.writerow([item[column] for column in MANIFEST_COLUMNS])
            manifest_path = target / "manifest.csv"
            manifest_path.write_text(buffer.getvalue(), encoding="utf-8")
            shutil.move(str(self.open_dir), str(target / "letters"))
            return BatchBundle(
                batch_id=index["batch_id"],
                directory=target,
                pdf_path=pdf_path,
                manifest_path=manifest_path,
                letters=len(letters),
                pages=len(pages),
            )


def _text_as_html(text: str) -> str:
    import html

    return (
        "<!doctype html><html lang='pt-BR'><head><meta charset='utf-8'>"
        "<style>@page{size:A4;margin:20mm}</style></head><body><pre style='white-space:pre-wrap;"
        f"font-family:sans-serif'>{html.escape(text)}</pre></body></html>"
    )
