"""Benchmark: rendering outbox rows (templates + itemised amounts + legal checks) and letters.

    python benchmarks/render_messages.py [--customers 500] [--letters 20]

Builds one creditor on a throwaway SQLite database with N debtors, each with two overdue
receivables of distinct amounts (so the per-tenant quote memo does not hide the calculator's
cost) and one queued message per channel — not timed. Then times, in this process:

- ``render_outbox_message`` for every row of each channel (email, sms, whatsapp) with the
  caches cleared first (every quote computed once), then again (every quote memoised: what
  repeated amounts cost);
- ``render_letter_pdf`` (WeasyPrint) for ``--letters`` letters, and ``close_batch`` merging them.

Prints one JSON object. Figures are for one process on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "messaging")]

from render_helpers import NOW, customer_with_debt, outbox_for  # noqa: E402

from adimple.db.engine import make_engine, unit_of_work  # noqa: E402
from adimple.db.migrate import upgrade  # noqa: E402
from adimple.messaging.channels.letter import LetterAdapter, render_letter_pdf  # noqa: E402
from adimple.messaging.render import clear_caches, render_outbox_message  # noqa: E402
from adimple.portfolio.models import Channel  # noqa: E402
from adimple.tenancy.service import create_tenant  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--letters", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="adimple-render-"))
    engine = make_engine(f"sqlite:///{folder / 'render.db'}")
    upgrade(engine)
    result: dict[str, Any] = {
        "benchmark": "render_messages",
        "customers": args.customers,
        "python": platform.python_version(),
    }
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug=f"bench-{uuid.uuid4().hex[:6]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        rows: dict[Channel, list[Any]] = {
            c: [] for c in (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)
        }
        letters = []
        for i in range(args.customers):
            dues = (
                (date(2026, 10, 5), f"{200 + i}.{i % 100:02d}"),
                (date(2026, 11, 2), f"{90 + i}.00"),
            )
            customer, receivables = customer_with_debt(session, tenant, dues=dues)
            for channel in rows:
                rows[channel].append(
                    outbox_for(
                        session,
                        tenant,
                        customer,
                        receivables,
                        channel=channel,
                        template="aviso_atraso",
                    )
                )
            if i < args.letters:
                letters.append(
                    outbox_for(
                        session,
                        tenant,
                        customer,
                        receivables,
                        channel=Channel.LETTER,
                        template="carta_cobranca",
                    )
                )
        session.flush()
        clear_caches()
        render_outbox_message(session, rows[Channel.EMAIL][0], now=NOW)  # imports, caches
        for channel, messages in rows.items():
            for label in ("cold_quotes", "memoised_quotes"):
                if label == "cold_quotes":
                    clear_caches()
                started = time.perf_counter()
                for message in messages:
                    render_outbox_message(session, message, now=NOW)
                elapsed = time.perf_counter() - started
                result[f"{channel.value}_{label}_ms"] = round(elapsed / len(messages) * 1000, 2)
                result[f"{channel.value}_{label}_per_s"] = round(len(messages) / elapsed, 1)
        rendered = [render_outbox_message(session, m, now=NOW) for m in letters]
    if rendered:
        started = time.perf_counter()
        pages = sum(render_letter_pdf(m.html or "").pages for m in rendered)
        elapsed = time.perf_counter() - started
        result["letter_pdf_ms_per_page"] = round(elapsed / pages * 1000, 1)
        adapter = LetterAdapter(tenant="bench", directory=folder / "letters")
        started = time.perf_counter()
        for message in rendered:
            adapter.send(message)
        result["letter_send_ms_each"] = round(
            (time.perf_counter() - started) / len(rendered) * 1000, 1
        )
        started = time.perf_counter()
        bundle = adapter.close_batch()
        result["letter_close_batch_s"] = round(time.perf_counter() - started, 2)
        result["letter_bundle_pages"] = bundle.pages if bundle else 0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
