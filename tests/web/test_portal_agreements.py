"""Portal negotiation on both databases: offers → consent → agreement (idempotent, one live
agreement), another customer's agreement is a 404, receipts and the carta de quitação."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_helpers import BIRTH, CPF, OTHER_CPF, csrf_of, login, today
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adimple.charges.service import offers_for_customer
from adimple.negotiation import service as negotiation
from adimple.negotiation.models import Agreement
from adimple.portfolio.models import Receivable, ReceivableStatus
from builders import make_customer, make_receivable, pay


@pytest.fixture
def debtors(session: Session, tenant: Any) -> dict[str, Any]:
    maria = make_customer(session, tenant, name="Maria da Silva", document=CPF, birth_date=BIRTH)
    for days in (40, 10):
        make_receivable(session, maria, today() - timedelta(days=days), "300.00")
    joao = make_customer(session, tenant, name="João Souza", document=OTHER_CPF, birth_date=BIRTH)
    make_receivable(session, joao, today() - timedelta(days=30), "120.00")
    session.commit()
    return {"tenant": tenant, "maria": maria, "joao": joao}


def choose(client: TestClient, offer_index: int = 1) -> tuple[str, str, str]:
    offers = client.get("/portal/ofertas")
    assert offers.status_code == 200
    ids = re.findall(r'href="/portal/ofertas/([^"]+)"', offers.text)
    assert len(ids) >= 2, offers.text
    page = client.get(f"/portal/ofertas/{ids[offer_index]}")
    assert page.status_code == 200 and "Li e aceito" in page.text
    key = re.search(r'name="chave" value="([^"]+)"', page.text)
    assert key
    return ids[offer_index], key.group(1), csrf_of(page.text)


def test_offers_compare_plans_and_consent_is_required(
    client: TestClient, debtors: dict[str, Any]
) -> None:
    login(client, debtors["maria"])
    page = client.get("/portal/ofertas").text
    assert "À vista" in page and "Valor da parcela" in page and "Desconto" in page
    offer, key, csrf = choose(client)
    refused = client.post("/portal/acordos", data={"oferta": offer, "chave": key, "csrf": csrf})
    assert refused.status_code == 422 and "marque que leu e aceita" in refused.text


def test_agreement_is_created_once_and_only_one_is_live(
    client: TestClient, debtors: dict[str, Any], session: Session
) -> None:
    maria = debtors["maria"]
    login(client, maria)
    offer, key, csrf = choose(client)
    form = {"oferta": offer, "chave": key, "csrf": csrf, "aceite": "sim"}
    first = client.post("/portal/acordos", data=form)
    assert first.status_code == 303
    again = client.post("/portal/acordos", data=form)  # a double click / resubmission
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    count = session.scalar(
        select(func.count()).select_from(Agreement).where(Agreement.customer_id == maria.id)
    )
    assert count == 1
    page = client.get(first.headers["location"])
    assert page.status_code == 200 and "Aguardando o pagamento da 1ª parcela" in page.text
    assert "Pagar parcela 1" in page.text
    # the originals are suspended; the offers page now points to the live agreement
    statuses = set(
        session.scalars(
            select(Receivable.status).where(
                Receivable.customer_id == maria.id, Receivable.contract.is_(None)
            )
        )
    )
    assert statuses == {ReceivableStatus.AGREEMENT}
    offers = client.get("/portal/ofertas").text
    assert "Você já tem o acordo" in offers
    debts = client.get("/portal/dividas").text
    assert "Títulos incluídos em acordo" in debts and "Ver acordo e pagar" in debts


def test_another_customers_agreement_is_not_found(
    client: TestClient, debtors: dict[str, Any], session: Session
) -> None:
    joao = debtors["joao"]
    offer = offers_for_customer(
        session, tenant_id=joao.tenant_id, customer_id=joao.id, as_of=today()
    )[0]
    theirs = negotiation.create_agreement(
        session,
        tenant_id=joao.tenant_id,
        customer_id=joao.id,
        offer_id=offer.id,
        as_of=today(),
        channel="operator",
        actor="test",
        consent={"ip": "127.0.0.1", "terms_version": "t", "accepted_at": "now"},
    )
    installment = negotiation.agreement_view(session, theirs).installments[0]
    session.commit()
    login(client, debtors["maria"])
    for path in (
        f"/portal/acordos/{theirs.id}",
        f"/portal/pagar/{installment.receivable_id}",
        f"/portal/pagar/{installment.receivable_id}/situacao",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert theirs.number not in response.text


def test_receipts_and_release_letter_once_everything_is_paid(
    client: TestClient, session: Session, tenant: Any
) -> None:
    ana = make_customer(session, tenant, name="Ana Lima", document=CPF, birth_date=BIRTH)
    first = make_receivable(session, ana, today() - timedelta(days=50), "80.00")
    second = make_receivable(session, ana, today() - timedelta(days=20), "60.00")
    pay(session, first, today() - timedelta(days=45))
    session.commit()
    login(client, ana)
    assert client.get("/portal/quitacao.pdf").status_code == 404  # 60,00 still open
    receipts = client.get("/portal/recibos").text
    assert "R$\xa080,00" in receipts and "carta de quitação" not in receipts
    pay(session, second, today() - timedelta(days=1))
    session.commit()
    receipts = client.get("/portal/recibos").text
    assert "Baixar carta de quitação" in receipts
    letter = client.get("/portal/quitacao.pdf")
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF")
    from adimple.web.portal.documents import release_letter_html
    from adimple.web.portal.pages import creditor_of, payments_of

    html = release_letter_html(
        creditor=creditor_of(tenant),
        customer=ana,
        rows=payments_of(session, tenant_id=tenant.id, customer_id=ana.id),
        today=today(),
    )
    assert "CARTA DE QUITAÇÃO" in html and "Ana Lima" in html and "529.982.247-25" in html
    assert "Loja Exemplo Comércio Ltda" in html and "Súmula 548" in html
