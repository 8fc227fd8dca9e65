"""Portal access on both databases: signed single-use links, identity confirmation, lockout,
sessions, CSRF, security headers, and every page isolated to its own customer (issue 7)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_helpers import BIRTH, CPF, OTHER_CPF, csrf_of, link_for, login, today
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.messaging.models import Task, TaskKind
from adimple.portfolio.models import Channel, ChannelOptOut, ContactKind, ContactPoint
from adimple.web.portal.models import PortalAttempt
from builders import add_contact, make_customer, make_receivable, pay


@pytest.fixture
def world(session: Session, tenant: Any) -> dict[str, Any]:
    maria = make_customer(session, tenant, name="Maria da Silva", document=CPF, birth_date=BIRTH)
    add_contact(session, maria, ContactKind.EMAIL, "maria@example.com", verified=True)
    add_contact(session, maria, ContactKind.PHONE, "+5511987654321", verified=True)
    add_contact(
        session, maria, ContactKind.PHONE, "+5511911112222", owner="third_party", verified=True
    )
    overdue = make_receivable(
        session, maria, today() - timedelta(days=40), "250.00", description="Contrato 77 1/3"
    )
    paid = make_receivable(session, maria, today() - timedelta(days=70), "100.00")
    payment = pay(session, paid, today() - timedelta(days=65))
    joao = make_customer(session, tenant, name="João Souza", document=OTHER_CPF, birth_date=BIRTH)
    other_receivable = make_receivable(session, joao, today() - timedelta(days=10), "90.00")
    other_paid = make_receivable(session, joao, today() - timedelta(days=70), "50.00")
    other_payment = pay(session, other_paid, today() - timedelta(days=60))
    session.commit()
    return {
        "tenant": tenant,
        "maria": maria,
        "overdue": overdue,
        "payment": payment,
        "joao": joao,
        "other_receivable": other_receivable,
        "other_payment": other_payment,
    }


class TestLinkAndIdentity:
    def test_the_link_leads_to_identity_and_reveals_no_debt_before_it(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        response = client.get(link_for(world["maria"].id))
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        page = client.get("/portal/entrar").text
        assert "Confirme sua identidade" in page
        assert "Loja Exemplo Comércio Ltda" in page  # the creditor (CDC art. 42-A)
        for secret in ("250,00", "Contrato 77", "Maria"):
            assert secret not in page
        assert client.get("/portal/dividas").status_code == 401

    def test_debts_page_itemises_the_update_and_names_the_creditor(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        login(client, world["maria"])
        page = client.get("/portal/dividas")
        assert page.status_code == 200
        text = page.text
        assert "Contrato 77 1/3" in text and "40 dias em atraso" in text
        assert "Multa" in text and "Juros de mora" in text and "Total hoje" in text
        assert "R$\xa0250,00" in text
        assert "11.222.333/0001-81" in text and "Rua Augusta, 100" in text

    def test_a_link_opens_the_portal_once(self, client: TestClient, world: dict[str, Any]) -> None:
        login(client, world["maria"])
        again = client.get(link_for(world["maria"].id))
        assert again.status_code == 410 and "já foi usado" in again.text
        # a newer message's link works
        fresh = TestClient(client.app, follow_redirects=False)
        login(fresh, world["maria"], seed="m2")

    def test_expired_and_tampered_links(self, client: TestClient, world: dict[str, Any]) -> None:
        old = link_for(world["maria"].id, issued_at=datetime.now(UTC) - timedelta(days=31))
        response = client.get(old)
        assert response.status_code == 410 and "expirou" in response.text
        token = link_for(world["maria"].id)
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        assert client.get(tampered).status_code == 404
        assert client.get("/portal/l/" + "x" * 300).status_code == 404

    def test_wrong_birth_date_five_times_locks_out_with_an_audit_event(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        maria = world["maria"]
        client.get(link_for(maria.id))
        csrf = csrf_of(client.get("/portal/entrar").text)
        for attempt in range(1, 5):
            wrong = client.post(
                "/portal/entrar",
                data={"documento": CPF, "nascimento": f"0{attempt}/02/1980", "csrf": csrf},
            )
            assert wrong.status_code == 422
            assert "não conferem" in wrong.text and "Maria" not in wrong.text
        fifth = client.post(
            "/portal/entrar", data={"documento": CPF, "nascimento": "05/05/1980", "csrf": csrf}
        )
        assert fifth.status_code == 429 and "bloqueado" in fifth.text
        right = client.post(
            "/portal/entrar", data={"documento": CPF, "nascimento": "31/01/1980", "csrf": csrf}
        )
        assert right.status_code == 429  # even the right answer waits for the lockout to end
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_id == maria.id, AuditEvent.action == "portal.lockout"
            )
        ).all()
        assert len(events) == 1
        attempts = session.scalars(
            select(PortalAttempt).where(PortalAttempt.customer_id == maria.id)
        ).all()
        assert len(attempts) == 5 and not any(a.success for a in attempts)

    def test_another_persons_cpf_gets_the_same_answer(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        client.get(link_for(world["maria"].id))
        csrf = csrf_of(client.get("/portal/entrar").text)
        answer = client.post(
            "/portal/entrar",
            data={"documento": OTHER_CPF, "nascimento": "31/01/1980", "csrf": csrf},
        )
        assert answer.status_code == 422 and "não conferem" in answer.text

    def test_identity_form_needs_its_csrf_token(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        client.get(link_for(world["maria"].id))
        refused = client.post(
            "/portal/entrar", data={"documento": CPF, "nascimento": "31/01/1980", "csrf": "x"}
        )
        assert refused.status_code == 403

    def test_logout_ends_the_session(self, client: TestClient, world: dict[str, Any]) -> None:
        login(client, world["maria"])
        csrf = csrf_of(client.get("/portal/dividas").text)
        assert client.post("/portal/sair", data={"csrf": csrf}).status_code == 200
        assert client.get("/portal/dividas").status_code == 401


class TestHeaders:
    def test_security_headers_and_no_inline_script(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        login(client, world["maria"])
        response = client.get("/portal/dividas")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers  # plain HTTP here
        assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None

    def test_behind_tls_hsts_and_secure_cookies(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        response = client.get(link_for(world["maria"].id), headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in response.headers["set-cookie"]
        assert "max-age=31536000" in response.headers["strict-transport-security"]


class TestIsolation:
    def test_every_route_with_another_customers_ids_is_404(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        login(client, world["maria"])
        other_r = world["other_receivable"].id
        other_p = world["other_payment"].id
        for path in (
            f"/portal/pagar/{other_r}",
            f"/portal/pagar/{other_r}/situacao",
            f"/portal/pagar/{other_r}/boleto.pdf",
            f"/portal/recibos/{other_p}",
            f"/portal/acordos/{other_r}",
            "/portal/ofertas/not-an-offer",
            "/portal/pagar/not-a-uuid",
        ):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "João" not in response.text and "90,00" not in response.text
        own = client.get(f"/portal/recibos/{world['payment'].id}")
        assert own.status_code == 200 and "Recibo de pagamento" in own.text

    def test_another_tenants_customer_cannot_use_this_session(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        from adimple.tenancy.service import create_tenant

        other = create_tenant(
            session,
            slug="outro-portal",
            legal_name="Outro Credor S.A.",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        stranger = make_customer(session, other, document=CPF, birth_date=BIRTH)
        foreign = make_receivable(session, stranger, today() - timedelta(days=5), "70.00")
        session.commit()
        login(client, world["maria"])
        assert client.get(f"/portal/pagar/{foreign.id}").status_code == 404


class TestPreferencesAndLgpd:
    def test_preferences_show_only_the_debtors_contacts_and_save(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        login(client, world["maria"])
        page = client.get("/portal/preferencias").text
        assert "ma•••@example.com" in page and "4321" in page
        assert "2222" not in page  # a third party's number is never shown
        email = session.scalars(
            select(ContactPoint).where(
                ContactPoint.customer_id == world["maria"].id,
                ContactPoint.value == "maria@example.com",
            )
        ).one()
        saved = client.post(
            "/portal/preferencias",
            data={
                "csrf": csrf_of(page),
                "preferido": str(email.id),
                "inicio": "9",
                "fim": "12",
                "descadastro": ["sms", "whatsapp"],
            },
        )
        assert saved.status_code == 200 and "Preferências salvas" in saved.text
        session.expire_all()
        opted = set(
            session.scalars(
                select(ChannelOptOut.channel).where(ChannelOptOut.customer_id == world["maria"].id)
            )
        )
        assert opted == {Channel.SMS, Channel.WHATSAPP}
        email = session.get(ContactPoint, email.id)
        assert email is not None and email.preferred and email.best_hour_start.hour == 9
        # unticking one removes that opt-out
        client.post(
            "/portal/preferencias",
            data={"csrf": csrf_of(page), "preferido": str(email.id), "descadastro": ["sms"]},
        )
        session.expire_all()
        opted = set(
            session.scalars(
                select(ChannelOptOut.channel).where(ChannelOptOut.customer_id == world["maria"].id)
            )
        )
        assert opted == {Channel.SMS}

    def test_forms_refuse_a_missing_csrf_token(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        login(client, world["maria"])
        assert client.post("/portal/preferencias", data={"inicio": "9"}).status_code == 403
        assert client.post("/portal/lgpd", data={"tipo": "acesso"}).status_code == 403

    def test_lgpd_request_creates_a_task(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        login(client, world["maria"])
        csrf = csrf_of(client.get("/portal/lgpd").text)
        done = client.post(
            "/portal/lgpd",
            data={"csrf": csrf, "tipo": "correcao", "mensagem": "Meu endereço mudou."},
        )
        assert done.status_code == 200 and "protocolo LGPD-" in done.text
        task = session.scalars(
            select(Task).where(
                Task.customer_id == world["maria"].id, Task.kind == TaskKind.LGPD_REQUEST
            )
        ).one()
        assert task.notes == "Meu endereço mudou." and task.due_on == today() + timedelta(days=15)
