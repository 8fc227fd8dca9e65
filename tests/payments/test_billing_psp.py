"""Billing with a PSP on both databases: cobv through the real local test server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
from billing_helpers import configure, customer, psp_settings, receivable
from sqlalchemy.orm import Session

from adimple.charges.policy import Policy
from adimple.charges.service import save_policy
from adimple.payments.billing import service
from adimple.payments.pix import decode as decode_pix
from adimple.payments.psp.testserver import RunningPsp, running_psp_server

D = Decimal
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def psp() -> Iterator[RunningPsp]:
    with running_psp_server() as running:
        yield running


def issue(session: Session, tenant, row, as_of: date = TODAY):  # type: ignore[no-untyped-def]
    return service.payment_instructions(
        session, tenant_id=tenant.id, receivable_id=row.id, as_of=as_of
    )


class TestCobv:
    def test_cobv_for_a_consumer_caps_the_fine(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        save_policy(
            session,
            tenant_id=tenant.id,
            document=Policy(business_only=True, fine_percent=D("10")),
            actor="test",
        )
        configure(session, tenant, psp=psp_settings(psp, validity_days=15))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        found = issue(session, tenant, row)
        data = found.as_contract()
        pix = data["pix"]
        assert pix["kind"] == "cobv" and pix["status"] == "ATIVA"
        assert len(pix["txid"]) == 32 and row.pix_txid == pix["txid"]
        assert pix["expires_on"] == "2026-12-25"  # due date + validadeAposVencimento
        payload = decode_pix(pix["br_code"])
        assert payload.is_dynamic and payload.url == pix["location"]
        body = psp.state.requests_to("PUT", f"/v2/cobv/{pix['txid']}")[-1].body
        assert body["calendario"] == {
            "dataDeVencimento": "2026-12-10",
            "validadeAposVencimento": 15,
        }
        assert body["devedor"] == {"cpf": "52998224725", "nome": "Maria da Silva"}
        assert body["valor"] == {
            "original": "1234.56",
            "multa": {"modalidade": 2, "valorPerc": "2.00"},  # 10% in the policy, capped
            "juros": {"modalidade": 3, "valorPerc": "1.00"},
        }
        assert body["chave"] == "financeiro@loja.example"
        assert "Loja Exemplo Comércio Ltda" in body["solicitacaoPagador"]
        assert data["boleto"] is not None  # the boleto is issued alongside

    def test_business_debtor_keeps_the_policy_fine(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        save_policy(
            session,
            tenant_id=tenant.id,
            document=Policy(business_only=True, fine_percent=D("10")),
            actor="test",
        )
        configure(session, tenant, boleto=None, psp=psp_settings(psp))
        company = customer(session, tenant, document="11444777000161", name="Padaria Ltda")
        row = receivable(session, tenant, company, due=date(2026, 12, 10))
        txid = issue(session, tenant, row).as_contract()["pix"]["txid"]
        body = psp.state.requests_to("PUT", f"/v2/cobv/{txid}")[-1].body
        assert body["devedor"] == {"cnpj": "11444777000161", "nome": "Padaria Ltda"}
        assert body["valor"]["multa"] == {"modalidade": 2, "valorPerc": "10.00"}

    def test_overdue_cobv_has_no_second_fine(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 6, 10))
        found = issue(session, tenant, row, as_of=date(2026, 9, 15))
        body = psp.state.requests_to("PUT", f"/v2/cobv/{row.pix_txid}")[-1].body
        assert body["calendario"]["dataDeVencimento"] == "2026-09-18"
        assert body["valor"]["original"] == f"{found.amount:.2f}"
        assert body["valor"]["multa"] == {"modalidade": 2, "valorPerc": "0.00"}
        per_day = found.terms.after_due.interest_per_day
        assert per_day is not None and per_day > 0
        assert body["valor"]["juros"] == {"modalidade": 1, "valorPerc": f"{per_day:.2f}"}

    def test_reuse_then_revise_the_same_txid(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        first = issue(session, tenant, row)
        txid = row.pix_txid
        calls = len(psp.state.requests_to("PUT", f"/v2/cobv/{txid}"))
        again = issue(session, tenant, row, as_of=date(2026, 12, 2))
        assert again.pix is not None and first.pix is not None and again.pix.id == first.pix.id
        assert len(psp.state.requests_to("PUT", f"/v2/cobv/{txid}")) == calls  # no PSP call
        row.balance = D("1000.00")
        revised = issue(session, tenant, row, as_of=date(2026, 12, 2))
        assert revised.pix is not None and revised.pix.id != first.pix.id
        assert revised.pix.txid == txid and revised.pix.psp_revision == 1
        patch = psp.state.requests_to("PATCH", f"/v2/cobv/{txid}")
        assert patch and patch[-1].body["valor"]["original"] == "1000.00"

    def test_static_txid_is_replaced_when_a_psp_is_configured(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant)
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        static = issue(session, tenant, row).as_contract()["pix"]
        configure(session, tenant, psp=psp_settings(psp))
        dynamic = issue(session, tenant, row).as_contract()["pix"]
        assert static["kind"] == "static" and dynamic["kind"] == "cobv"
        assert len(static["txid"]) == 25 and len(dynamic["txid"]) == 32

    def test_register_webhook(self, session: Session, tenant, psp: RunningPsp) -> None:
        url = "https://adimple.example/api/v1/webhooks/pix/adk_x"
        configure(session, tenant, psp=psp_settings(psp, webhook_url=url))
        assert service.register_webhook(session, tenant_id=tenant.id, actor="test") == {
            "key": "financeiro@loja.example",
            "webhook_url": url,
        }
        assert psp.state.webhooks["financeiro@loja.example"] == url


class TestPspErrors:
    def test_refusal_is_a_502_with_the_psp_problem(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        httpx.post(f"{psp.base_url}/_test/fail", params={"status": 403, "times": 1})
        with pytest.raises(service.PaymentProviderError) as caught:
            issue(session, tenant, row)
        error = caught.value
        assert error.status_code == 502
        assert error.extra["psp_status"] == 403
        assert error.extra["psp_problem"]["title"] == "Serviço Indisponível"
        assert "403" in error.detail

    def test_wrong_secret(self, session: Session, tenant, psp: RunningPsp) -> None:
        configure(session, tenant, psp={**psp_settings(psp), "client_secret": "errado"})
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        with pytest.raises(service.PaymentProviderError, match="401") as caught:
            issue(session, tenant, row)
        assert caught.value.extra["psp_status"] == 401
        assert row.pix_txid is not None  # allocated; the caller's rollback undoes it

    def test_transient_failures_are_retried(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        httpx.post(f"{psp.base_url}/_test/fail", params={"status": 503, "times": 2})
        assert issue(session, tenant, row).pix is not None


class TestCancel:
    def test_cancel_withdraws_the_cobv(self, session: Session, tenant, psp: RunningPsp) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        issue(session, tenant, row)
        cancelled = service.cancel_charges(
            session, tenant_id=tenant.id, receivable_id=row.id, actor="test"
        )
        assert sorted(d.kind.value for d in cancelled) == ["boleto", "pix"]
        assert psp.state.cobvs[row.pix_txid]["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
        assert all(d.superseded_at is not None for d in cancelled)
        assert (
            service.cancel_charges(session, tenant_id=tenant.id, receivable_id=row.id, actor="t")
            == []
        )
        # Asked again, the receivable gets a new cobv under a new txid (a removed charge
        # cannot be revised).
        old_txid = row.pix_txid
        again = issue(session, tenant, row).as_contract()["pix"]
        assert again["txid"] != old_txid and again["status"] == "ATIVA"
        assert row.pix_txid == again["txid"]

    def test_instructions_after_a_pix_payment_is_a_conflict_not_a_new_charge(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        issue(session, tenant, row)
        httpx.post(f"{psp.base_url}/_test/cobv/{row.pix_txid}/pay")
        row.balance = D("1000.00")  # a partial payment elsewhere changes the amount
        with pytest.raises(service.ReceivableNotBillable, match="já foi paga"):
            issue(session, tenant, row)

    def test_cancel_of_a_paid_cobv_is_a_conflict(
        self, session: Session, tenant, psp: RunningPsp
    ) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        row = receivable(session, tenant, customer(session, tenant), due=date(2026, 12, 10))
        issue(session, tenant, row)
        httpx.post(f"{psp.base_url}/_test/cobv/{row.pix_txid}/pay")
        with pytest.raises(service.Conflict, match="já foi paga"):
            service.cancel_charges(session, tenant_id=tenant.id, receivable_id=row.id, actor="t")


class TestTokenReuse:
    def test_one_token_across_requests(self, session: Session, tenant, psp: RunningPsp) -> None:
        configure(session, tenant, psp=psp_settings(psp))
        owner = customer(session, tenant)
        before = len(psp.state.requests_to("POST", "/oauth/token"))
        for _ in range(3):
            issue(session, tenant, receivable(session, tenant, owner, due=date(2026, 12, 10)))
        assert len(psp.state.requests_to("POST", "/oauth/token")) - before <= 1
