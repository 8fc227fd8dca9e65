"""One-time codes (issue 7: "or a one-time code sent to a verified contact point of the
debtor"), on both databases, sent over SMTP to a real local server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_helpers import csrf_of, link_for, today
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.messaging.testing import SmtpServer, running_smtp_server
from adimple.portfolio.models import ContactKind, ContactPoint, DocumentKind
from adimple.web.portal.models import PortalOneTimeCode
from builders import add_contact, make_customer, make_receivable

CNPJ = "11444777000161"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_EMAIL",
            json.dumps(
                {
                    "provider": "smtp",
                    "settings": {
                        "host": server.host,
                        "port": server.port,
                        "security": "none",
                        "from_address": "portal@loja.example",
                    },
                }
            ),
        )
        yield server


@pytest.fixture
def company(session: Session, tenant: Any) -> Any:
    """A company debtor: no birth date, so a code is the only way in."""
    padaria = make_customer(
        session,
        tenant,
        name="Padaria Pão Quente Ltda",
        document=CNPJ,
        document_kind=DocumentKind.CNPJ,
    )
    add_contact(session, padaria, ContactKind.EMAIL, "financeiro@padaria.example", verified=True)
    add_contact(session, padaria, ContactKind.EMAIL, "velho@padaria.example", verified=False)
    add_contact(
        session,
        padaria,
        ContactKind.EMAIL,
        "contador@escritorio.example",
        owner="third_party",
        verified=True,
    )
    make_receivable(session, padaria, today() - timedelta(days=15), "780.00")
    session.commit()
    return padaria


def code_in(smtp: SmtpServer, n: int) -> str:
    received = smtp.wait_for(n)
    text = received[-1].message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"\b(\d{6})\b", text)
    assert match, text
    assert "Loja Exemplo Comércio Ltda" in text
    return match.group(1)


def test_code_by_email_opens_the_portal(client: TestClient, company: Any, smtp: SmtpServer) -> None:
    client.get(link_for(company.id))
    page = client.get("/portal/entrar").text
    assert "Data de nascimento" not in page  # nothing on file to ask
    assert "fi••••••••@padaria.example" in page
    assert "velho@" not in page and "escritorio" not in page and "ve•" not in page
    choice = re.search(r'name="contato" value="([^"]+)"', page)
    assert choice
    sent = client.post("/portal/entrar/codigo", data={"contato": choice[1], "csrf": csrf_of(page)})
    assert sent.status_code == 200 and "Enviamos um código" in sent.text
    code = code_in(smtp, 1)
    assert smtp.wait_for(1)[0].message["To"] == "financeiro@padaria.example"
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = client.post(
        "/portal/entrar/codigo/confirmar", data={"codigo": wrong, "csrf": csrf_of(sent.text)}
    )
    assert refused.status_code == 422 and "Código incorreto" in refused.text
    done = client.post(
        "/portal/entrar/codigo/confirmar", data={"codigo": code, "csrf": csrf_of(sent.text)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/portal/dividas"
    assert "R$\xa0780,00" in client.get("/portal/dividas").text
    # the code and the link are both spent
    again = client.post(
        "/portal/entrar/codigo/confirmar", data={"codigo": code, "csrf": csrf_of(sent.text)}
    )
    assert again.status_code in (401, 410)


def test_codes_are_limited_and_never_sent_to_someone_else(
    client: TestClient, company: Any, smtp: SmtpServer, session: Session
) -> None:
    client.get(link_for(company.id))
    page = client.get("/portal/entrar").text
    csrf = csrf_of(page)
    third_party = session.scalars(
        select(ContactPoint).where(
            ContactPoint.customer_id == company.id,
            ContactPoint.value == "contador@escritorio.example",
        )
    ).one()
    refused = client.post(
        "/portal/entrar/codigo", data={"contato": str(third_party.id), "csrf": csrf}
    )
    assert refused.status_code == 422
    choice = re.search(r'name="contato" value="([^"]+)"', page)
    assert choice
    for _ in range(3):
        assert (
            client.post("/portal/entrar/codigo", data={"contato": choice[1], "csrf": csrf})
        ).status_code == 200
    fourth = client.post("/portal/entrar/codigo", data={"contato": choice[1], "csrf": csrf})
    assert fourth.status_code == 429
    assert len(smtp.wait_for(3)) == 3
    stored = session.scalars(
        select(PortalOneTimeCode.code_hash).where(PortalOneTimeCode.customer_id == company.id)
    ).all()
    assert len(stored) == 3 and all(len(h) == 64 for h in stored)  # hashes, not codes


def _fresh_link_page(client: TestClient, company: Any, **link: Any) -> str:
    page = client.get(link_for(company.id, **link))
    assert page.status_code == 410
    assert "Receber um novo link de acesso" in page.text
    assert "fi••••••••@padaria.example" in page.text  # masked, own verified contact only
    assert "velho@" not in page.text and "escritorio" not in page.text
    return page.text


def test_an_expired_link_offers_a_fresh_one_that_opens_the_portal(
    client: TestClient, company: Any, smtp: SmtpServer
) -> None:
    old = datetime.now(UTC) - timedelta(days=31)
    page = _fresh_link_page(client, company, seed="antigo", issued_at=old)
    token = re.search(r'name="link" value="([^"]+)"', page)
    choice = re.search(r'name="contato" value="([^"]+)"', page)
    assert token and choice
    sent = client.post(
        "/portal/novo-link", data={"link": token[1], "contato": choice[1], "csrf": csrf_of(page)}
    )
    assert sent.status_code == 200 and "Enviamos um novo link" in sent.text
    received = smtp.wait_for(1)[0].message
    assert received["To"] == "financeiro@padaria.example"
    body = received.get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"https?://\S+/portal/l/(\S+)", body)
    assert url and "Loja Exemplo Comércio Ltda" in body
    opened = client.get(f"/portal/l/{url[1]}")  # the new link: identity is still asked
    assert opened.status_code == 303 and opened.headers["location"] == "/portal/entrar"
    assert "R$" not in client.get("/portal/entrar").text


def test_fresh_links_are_limited_checked_and_only_for_genuine_links(
    client: TestClient, company: Any, smtp: SmtpServer, session: Session
) -> None:
    client.get(link_for(company.id, seed="usado"))  # …
    page = client.get("/portal/entrar").text  # … opened, then used for a code login below
    csrf = csrf_of(page)
    choice = re.search(r'name="contato" value="([^"]+)"', page)
    assert choice
    sent = client.post("/portal/entrar/codigo", data={"contato": choice[1], "csrf": csrf})
    code = code_in(smtp, 1)
    client.post(
        "/portal/entrar/codigo/confirmar", data={"codigo": code, "csrf": csrf_of(sent.text)}
    )
    used = _fresh_link_page(client, company, seed="usado")
    token = re.search(r'name="link" value="([^"]+)"', used)
    assert token
    form = {"link": token[1], "contato": choice[1], "csrf": csrf_of(used)}
    assert client.post("/portal/novo-link", data=form | {"csrf": "x" * 64}).status_code == 403
    third_party = session.scalars(
        select(ContactPoint.id).where(ContactPoint.value == "contador@escritorio.example")
    ).one()
    refused = client.post("/portal/novo-link", data=form | {"contato": str(third_party)})
    assert refused.status_code == 422
    for _ in range(3):
        assert client.post("/portal/novo-link", data=form).status_code == 200
    assert client.post("/portal/novo-link", data=form).status_code == 429
    assert len(smtp.wait_for(4)) == 4  # the code and three links; nothing to the third party
    forged = form | {"link": token[1][:-3] + "AAA"}
    assert client.post("/portal/novo-link", data=forged).status_code == 404
    assert "Receber um novo link" not in client.get("/portal/l/" + "x" * 40).text
