"""Rendering outbox rows: itemised amounts from the charges service, the creditor identification
(CDC art. 42-A), the portal link and the opt-out, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from render_helpers import NOW, TODAY, customer_with_debt, outbox_for
from sqlalchemy.orm import Session

from adimple.charges.calculator import quote_installment
from adimple.kit.i18n import brl
from adimple.kit.money import ZERO
from adimple.messaging.optout import read_optout_token
from adimple.messaging.render import (
    PENDING_UPDATE_NOTICE,
    DebtLine,
    NothingToCollect,
    RenderError,
    build_context,
    clear_caches,
    fast_brl,
    preview,
    render_outbox_message,
    render_spec,
    sample_tenant,
)
from adimple.messaging.templates import shipped_templates
from adimple.portfolio.models import Channel
from adimple.tenancy.models import Tenant
from adimple.web.portal.links import read_portal_token
from builders import make_receivable, pay


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    clear_caches()


def portal_link_in(text: str, *, customer_id: uuid.UUID) -> str:
    """The message's signed portal link: valid, about this customer, 30 days (issue 7)."""
    match = re.search(r"http://127\.0\.0\.1:8000/portal/l/([A-Za-z0-9_\-.]+)", text)
    assert match, text
    link = read_portal_token(match.group(1).rstrip("."), now=NOW)
    assert link.customer_id == customer_id
    assert link.expires_at - NOW == timedelta(days=30)
    return match.group(0).rstrip(".")


def _plain_brl(value: Decimal) -> str:
    # SMS text and WhatsApp parameters turn Babel's no-break space into a plain one.
    return brl(value).replace("\xa0", " ")


def _expected_total(principal: str, due: date) -> Decimal:
    return quote_installment(principal=Decimal(principal), due_date=due, as_of=TODAY).total


class TestRenderOutboxMessage:
    def test_email_carries_every_legal_element(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(
            session,
            tenant,
            dues=((date(2026, 10, 5), "250.00"), (date(2026, 11, 2), "250.00")),
        )
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.EMAIL, template="aviso_atraso"
        )
        out = render_outbox_message(session, message, now=NOW)
        first = _expected_total("250.00", date(2026, 10, 5))
        second = _expected_total("250.00", date(2026, 11, 2))
        for part in (out.text, out.html or ""):
            plain = part.replace("\xa0", " ")
            assert "Loja Exemplo Comércio Ltda" in plain
            assert "11.222.333/0001-81" in plain
            assert "Rua Augusta, 100" in plain
            assert brl(first).replace("\xa0", " ") in plain
            assert brl(second).replace("\xa0", " ") in plain
            assert brl(first + second).replace("\xa0", " ") in plain
            assert portal_link_in(plain, customer_id=customer.id) in plain
            assert "/optout/" in plain
        assert out.text.startswith("Olá, Maria!")
        assert out.subject and "01305" not in out.subject
        assert out.idempotency_key == message.idempotency_key and out.to == message.address
        assert out.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = out.headers["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
        request = read_optout_token(token)
        assert (request.tenant_id, request.customer_id, request.channel) == (
            tenant.id,
            customer.id,
            Channel.EMAIL,
        )
        assert out.metadata["pending_update"] == "false"

    def test_only_still_open_linked_receivables_count(
        self, session: Session, tenant: Tenant
    ) -> None:
        customer, receivables = customer_with_debt(
            session,
            tenant,
            dues=((date(2026, 10, 5), "100.00"), (date(2026, 11, 2), "250.00")),
        )
        unrelated = make_receivable(session, customer, date(2026, 9, 1), "999.00")
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.SMS, template="aviso_atraso"
        )
        pay(session, receivables[0], TODAY)
        out = render_outbox_message(session, message, now=NOW)
        expected = _expected_total("250.00", date(2026, 11, 2))
        assert _plain_brl(expected) in out.text
        assert _plain_brl(unrelated.balance) not in out.text
        assert out.metadata["sms_segments"] == "2"

    def test_a_message_whose_debts_are_all_paid_is_nothing_to_collect(
        self, session: Session, tenant: Tenant
    ) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.SMS, template="aviso_atraso"
        )
        pay(session, receivables[0], TODAY)
        with pytest.raises(NothingToCollect):
            render_outbox_message(session, message, now=NOW)

    def test_tenant_without_address_fails_naming_it(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.EMAIL, template="aviso_atraso"
        )
        tenant.address = "  "
        with pytest.raises(RenderError) as error:
            render_outbox_message(session, message, now=NOW)
        assert error.value.detail == (
            "CDC art. 42-A: identificação do credor incompleta (endereço ausente)"
        )

    def test_missing_index_month_falls_back_and_says_so(
        self, session: Session, tenant: Tenant
    ) -> None:
        # Due in July: correção needs IPCA of Aug–Oct 2026; October is not packaged yet.
        customer, receivables = customer_with_debt(
            session, tenant, dues=((date(2026, 7, 10), "300.00"),)
        )
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.EMAIL, template="aviso_atraso"
        )
        out = render_outbox_message(session, message, now=NOW)
        assert PENDING_UPDATE_NOTICE in out.text
        assert out.metadata["pending_update"] == "true"
        assert "correção R$\xa00,00" in out.text  # the update without correção, explicitly

    def test_whatsapp_gets_ordered_template_params(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session,
            tenant,
            customer,
            receivables,
            channel=Channel.WHATSAPP,
            template="aviso_atraso",
        )
        out = render_outbox_message(session, message, now=NOW)
        total = _plain_brl(_expected_total("250.00", date(2026, 11, 2)))
        assert out.template_params[:3] == ["Maria", "02/11/2026", total]
        link = out.template_params[3]
        assert link.startswith("http://127.0.0.1:8000/portal/l/")
        assert portal_link_in(link, customer_id=customer.id) == link
        assert out.template_params[4:7] == [
            "Loja Exemplo Comércio Ltda",
            "11.222.333/0001-81",
            "Rua Augusta, 100, São Paulo/SP, CEP 01305-000",
        ]
        assert all("\n" not in p for p in out.template_params)
        assert out.metadata["whatsapp_template_name"] == "aviso_atraso"
        assert "{{" not in out.text and total in out.text

    def test_letter_is_a_full_html_page_with_the_creditor_header(
        self, session: Session, tenant: Tenant
    ) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session,
            tenant,
            customer,
            receivables,
            channel=Channel.LETTER,
            template="aviso_negativacao",
        )
        out = render_outbox_message(session, message, now=NOW)
        assert out.html is not None and out.html.startswith("<!doctype html>")
        header = out.html.split("</header>")[0]
        assert "Loja Exemplo Comércio Ltda" in header and "11.222.333/0001-81" in header
        assert "Rua Augusta, 100" in header
        assert "10 dias" in out.html and "03/12/2026" in out.html  # today + 10 days
        assert "Rua das Flores, 10, ap. 3" in out.html

    def test_html_escapes_what_comes_from_data(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(
            session, tenant, name="Maria <script>alert(1)</script> & Cia"
        )
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.EMAIL, template="aviso_atraso"
        )
        out = render_outbox_message(session, message, now=NOW)
        assert out.html is not None
        assert "<script>" not in out.html and "&lt;script&gt;" not in out.html  # first name only
        letter = outbox_for(
            session,
            tenant,
            customer,
            receivables,
            channel=Channel.LETTER,
            template="carta_cobranca",
        )
        html = render_outbox_message(session, letter, now=NOW).html or ""
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Cia" in html

    def test_a_template_missing_for_the_channel_is_a_render_error(
        self, session: Session, tenant: Tenant
    ) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.SMS, template="carta_cobranca"
        )
        with pytest.raises(RenderError, match="carta_cobranca"):
            render_outbox_message(session, message, now=NOW)

    def test_phone_channel_is_not_a_message(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.SMS, template="aviso_atraso"
        )
        message.channel = Channel.PHONE
        with pytest.raises(RenderError):
            render_outbox_message(session, message, now=NOW)


class TestPreview:
    def test_previews_with_a_real_customer(self, session: Session, tenant: Tenant) -> None:
        customer, _ = customer_with_debt(session, tenant)
        rendered = preview(
            session,
            tenant_id=tenant.id,
            template_name="lembrete_atraso",
            channel=Channel.SMS,
            customer_id=customer.id,
            now=NOW,
        )
        assert rendered.sms is not None and rendered.sms.encoding.value == "gsm7"
        assert rendered.sms_text is not None and "Comercio" not in rendered.sms_text
        assert rendered.total == _expected_total("250.00", date(2026, 11, 2))


class TestFastBrl:
    @given(
        st.decimals(
            min_value=Decimal("-99999999999.99"),
            max_value=Decimal("99999999999.99"),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    def test_same_as_babel(self, value: Decimal) -> None:
        assert fast_brl(value) == brl(value)

    def test_examples(self) -> None:
        assert fast_brl(Decimal("1234.5")) == "R$\xa01.234,50"
        assert fast_brl(Decimal("0")) == "R$\xa00,00"
        assert fast_brl(Decimal("-3.10")) == "-R$\xa03,10"


class TestPreDueReminder:
    def test_not_yet_due_is_the_plain_amount(self, session: Session, tenant: Tenant) -> None:
        customer, receivables = customer_with_debt(
            session, tenant, dues=((date(2026, 11, 30), "250.00"),)
        )
        message = outbox_for(
            session,
            tenant,
            customer,
            receivables,
            channel=Channel.EMAIL,
            template="lembrete_vencimento",
        )
        out = render_outbox_message(session, message, now=NOW)
        assert "30/11/2026" in out.text and "R$\xa0250,00" in out.text
        assert out.metadata["total"] == "250.00"


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda s: s.strip())


class TestRenderProperties:
    @given(
        name=_names,
        amounts=st.lists(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2),
            min_size=1,
            max_size=5,
        ),
    )
    @settings(max_examples=60, deadline=None)
    def test_every_shipped_template_renders_any_debtor_with_the_legal_elements(
        self, name: str, amounts: list[Decimal]
    ) -> None:
        tenant = sample_tenant()
        lines = [
            DebtLine(None, f"Parcela {i}", TODAY, 21, a, ZERO, ZERO, ZERO, ZERO, a)
            for i, a in enumerate(amounts, start=1)
        ]
        for spec in shipped_templates().values():
            context, facts = build_context(
                tenant,
                customer_id=uuid.uuid4(),
                customer_name=name,
                channel=spec.channel,
                lines=lines,
                today=TODAY,
                recipient_address="Rua A, 1",
            )
            rendered = render_spec(spec, context, facts)  # raises if an element is missing
            if rendered.html is not None:
                assert "<script" not in name or "<script" not in rendered.html
            assert all(p and "\n" not in p for p in rendered.template_params)
