"""Templates: every shipped one renders with the legal elements; saving refuses a template that
lacks one, threatens or exposes, or does not compile; versions are kept."""

from __future__ import annotations

import uuid

import pytest
from render_helpers import NOW, customer_with_debt, outbox_for
from sqlalchemy.orm import Session

from adimple.kit.errors import ValidationFailed
from adimple.messaging.render import clear_caches, render_outbox_message
from adimple.messaging.templates import (
    TEMPLATE_NAMES,
    get_template,
    list_templates,
    save_template,
    shipped_templates,
    template_versions,
)
from adimple.messaging.tone import set_tenant_terms
from adimple.portfolio.models import Channel
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant

SHIPPED = sorted(shipped_templates())

SMS_OK = (
    "{{ cliente.primeiro_nome }}, {{ credor.nome }} (CNPJ {{ credor.documento }}): "
    "{{ total|brl }} em aberto. {{ portal_url }} {{ optout_instrucao }}"
)


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    clear_caches()


def test_the_issue_templates_are_shipped() -> None:
    expected = {
        (name, channel)
        for name in TEMPLATE_NAMES[:4]
        for channel in (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)
    } | {("carta_cobranca", Channel.LETTER), ("aviso_negativacao", Channel.LETTER)}
    assert set(shipped_templates()) == expected


@pytest.mark.parametrize(("name", "channel"), SHIPPED, ids=[f"{n}.{c.value}" for n, c in SHIPPED])
def test_each_shipped_template_renders_for_a_real_customer(
    session: Session, tenant: Tenant, name: str, channel: Channel
) -> None:
    customer, receivables = customer_with_debt(session, tenant)
    message = outbox_for(session, tenant, customer, receivables, channel=channel, template=name)
    out = render_outbox_message(session, message, now=NOW)
    text = (out.html if channel is Channel.LETTER else out.text) or ""
    text = text.replace("\xa0", " ")
    assert "Loja Exemplo Comércio Ltda" in text  # art. 42-A: name
    assert "11.222.333/0001-81" in text  # CPF/CNPJ
    # the message's own signed portal link (issue 7), whose landing page shows the address
    assert "Rua Augusta, 100" in text or "/portal/l/" in text  # address or link
    assert "R$ 25" in text  # the amount (R$ 25x,yy for R$ 250,00 updated)
    assert "/portal/l/" in text
    assert ("/optout/" in text) if channel in (Channel.EMAIL, Channel.LETTER) else ("SAIR" in text)
    assert "Maria" in text


class TestSaveTemplate:
    def test_refuses_a_template_without_the_opt_out(self, session: Session, tenant: Tenant) -> None:
        body = SMS_OK.replace("{{ optout_instrucao }}", "")
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": body},
                actor="test",
            )
        assert "opt-out" in error.value.errors[0].reason

    @pytest.mark.parametrize(
        ("remove", "reason"),
        [
            ("{{ credor.nome }}", "nome ausente"),
            ("(CNPJ {{ credor.documento }})", "CPF/CNPJ ausente"),
            ("{{ total|brl }}", "valor ausente"),
            ("{{ portal_url }}", "endereço ausente"),  # the portal link is also the address link
        ],
    )
    def test_refuses_a_template_missing_a_legal_element(
        self, session: Session, tenant: Tenant, remove: str, reason: str
    ) -> None:
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK.replace(remove, "")},
                actor="test",
            )
        assert reason in error.value.errors[0].reason

    def test_email_must_itemise_every_receivable(self, session: Session, tenant: Tenant) -> None:
        spec = get_template(session, tenant_id=tenant.id, name="aviso_atraso", channel="email")
        body = spec.body.replace("{% for t in titulos -%}", "{% for t in titulos[:1] -%}")
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.EMAIL,
                data={"subject": spec.subject, "body": body, "html": spec.html},
                actor="test",
            )
        assert "discriminados" in error.value.errors[0].reason

    def test_a_threat_is_refused_naming_the_line(self, session: Session, tenant: Tenant) -> None:
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK + "\nOu chamaremos a Polícia."},
                actor="test",
            )
        [problem] = error.value.errors
        assert (problem.field, problem.line) == ("body", 2)
        assert "polícia" in problem.reason

    def test_tenant_terms_are_refused_too(self, session: Session, tenant: Tenant) -> None:
        set_tenant_terms(session, tenant_id=tenant.id, terms=["em aberto"], actor="test")
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK},
                actor="test",
            )
        assert "em aberto" in error.value.errors[0].reason

    def test_syntax_errors_name_the_line(self, session: Session, tenant: Tenant) -> None:
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK + "\n{% if %}"},
                actor="test",
            )
        assert error.value.errors[0].line == 2

    def test_unknown_variables_and_sandbox_escapes_are_refused(
        self, session: Session, tenant: Tenant
    ) -> None:
        for extra in ("{{ cliente.cpf_completo }}", "{{ ''.__class__.__mro__ }}", "{{ 1/0 }}"):
            with pytest.raises(ValidationFailed):
                save_template(
                    session,
                    tenant_id=tenant.id,
                    name="aviso_atraso",
                    channel=Channel.SMS,
                    data={"body": SMS_OK + " " + extra},
                    actor="test",
                )

    @pytest.mark.parametrize(
        "extra",
        [
            "{{ 2 ** 1000 }}",
            "{{ 'x' * 100000000 }}",
            "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
        ],
    )
    def test_denial_of_service_templates_are_refused(
        self, session: Session, tenant: Tenant, extra: str
    ) -> None:
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK + " " + extra},
                actor="test",
            )
        assert "modelo" in error.value.errors[0].reason

    def test_whatsapp_needs_one_expression_per_placeholder(
        self, session: Session, tenant: Tenant
    ) -> None:
        spec = get_template(session, tenant_id=tenant.id, name="aviso_atraso", channel="whatsapp")
        with pytest.raises(ValidationFailed) as error:
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.WHATSAPP,
                data={
                    "body": spec.body,
                    "whatsapp_template_name": "aviso_atraso",
                    "whatsapp_params": list(spec.whatsapp_params[:-1]),
                },
                actor="test",
            )
        assert error.value.errors[0].field == "whatsapp_params"

    def test_versions_are_kept_and_the_newest_is_used(
        self, session: Session, tenant: Tenant
    ) -> None:
        for suffix in ("", " Obrigado!"):
            save_template(
                session,
                tenant_id=tenant.id,
                name="aviso_atraso",
                channel=Channel.SMS,
                data={"body": SMS_OK + suffix},
                actor="ana",
            )
        versions = template_versions(
            session, tenant_id=tenant.id, name="aviso_atraso", channel=Channel.SMS
        )
        assert [v.version for v in versions] == [2, 1]
        current = get_template(session, tenant_id=tenant.id, name="aviso_atraso", channel="sms")
        assert (current.version, current.source, current.created_by) == (2, "tenant", "ana")
        customer, receivables = customer_with_debt(session, tenant)
        message = outbox_for(
            session, tenant, customer, receivables, channel=Channel.SMS, template="aviso_atraso"
        )
        out = render_outbox_message(session, message, now=NOW)
        assert out.text.endswith("Obrigado!") and out.metadata["template_version"] == "2"

    def test_a_tenant_version_does_not_leak_to_another_tenant(
        self, session: Session, tenant: Tenant
    ) -> None:
        save_template(
            session,
            tenant_id=tenant.id,
            name="aviso_atraso",
            channel=Channel.SMS,
            data={"body": SMS_OK},
            actor="ana",
        )
        other = create_tenant(
            session,
            slug=f"o-{uuid.uuid4().hex[:8]}",
            legal_name="Outra Ltda",
            document="11.444.777/0001-61",
            address="Rua B, 2",
            city="Curitiba",
            uf="PR",
        )
        spec = get_template(session, tenant_id=other.id, name="aviso_atraso", channel="sms")
        assert spec.source == "default"
        listed = {
            (s.name, s.channel): s.source for s in list_templates(session, tenant_id=tenant.id)
        }
        assert listed[("aviso_atraso", Channel.SMS)] == "tenant"
        assert listed[("aviso_atraso", Channel.EMAIL)] == "default"
