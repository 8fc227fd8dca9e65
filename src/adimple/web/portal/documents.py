"""Carta de quitação: the creditor's statement that nothing is owed any more (CC art. 319–320:
who pays is entitled to the quitação, naming the debt, the debtor, the time and place)."""

from __future__ import annotations

from datetime import date
from typing import Any

from adimple.portfolio.models import Customer
from adimple.web.portal.pages import Creditor
from adimple.web.portal.templating import render_text


def release_letter_html(
    *, creditor: Creditor, customer: Customer, rows: list[Any], today: date
) -> str:
    from adimple.messaging.render import format_document

    return render_text(
        "quitacao.html",
        creditor=creditor,
        customer=customer,
        customer_document=format_document(customer.document),
        rows=rows,
        today=today,
    )


def release_letter_pdf(
    *, creditor: Creditor, customer: Customer, rows: list[Any], today: date
) -> bytes:
    from weasyprint import HTML

    html = release_letter_html(creditor=creditor, customer=customer, rows=rows, today=today)
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
