"""End to end on both databases: a receivable → payment instructions (cobv on the local test PSP,
webhook registered to the app served by uvicorn) → the PSP's test payment → the webhook → the
receivable is paid exactly once, even when the webhook is delivered twice."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from billing_helpers import PIX, customer, receivable
from sqlalchemy import func, select

from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.payments.billing import service
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.payments.models import PixNotification
from adimple.payments.psp.testserver import running_psp_server, serve_in_thread
from adimple.portfolio.models import Payment, Receivable, ReceivableStatus
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app


@pytest.mark.slow
def test_cobv_paid_through_the_webhook_exactly_once(cli_database: str) -> None:
    engine = make_engine(cli_database)
    upgrade(engine)
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug=f"e2e-{uuid.uuid4().hex[:8]}",
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
        )
        _, token = create_api_key(session, tenant_id=tenant.id, name="psp-webhook")
        row = receivable(
            session,
            tenant,
            customer(session, tenant),
            due=today + timedelta(days=20),
            amount="250.00",
            issue=today - timedelta(days=10),
        )
        tenant_id, receivable_id = tenant.id, row.id

    with running_psp_server() as psp, serve_in_thread(create_app(engine)) as app_url:
        webhook_url = f"{app_url}/api/v1/webhooks/pix/{token}"
        with unit_of_work(engine) as session:
            service.save_settings(
                session,
                tenant_id=tenant_id,
                document=BillingSettingsInput.model_validate(
                    {
                        "pix": PIX,
                        "psp": {
                            "base_url": psp.base_url,
                            "client_id": psp.client_id,
                            "client_secret": psp.client_secret,
                            "webhook_url": webhook_url,
                        },
                    }
                ),
                actor="test",
            )
            service.register_webhook(session, tenant_id=tenant_id, actor="test")
        # The API answers the instructions (its own request transaction commits them).
        found = httpx.get(
            f"{app_url}/api/v1/receivables/{receivable_id}/payment-instructions",
            params={"as_of": today.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert found.status_code == 200, found.text
        pix = found.json()["pix"]
        assert pix["kind"] == "cobv" and pix["amount"] == "250.00"
        assert psp.state.webhooks[PIX["key"]] == webhook_url

        paid = httpx.post(
            f"{psp.base_url}/_test/cobv/{pix['txid']}/pay", params={"deliveries": 2}, timeout=60
        )
        assert paid.status_code == 200, paid.text
        deliveries = paid.json()["deliveries"]
        assert [d["status"] for d in deliveries] == [200, 200], deliveries
        assert deliveries[0]["url"] == f"{webhook_url}/pix"
        end_to_end = paid.json()["pix"]["endToEndId"]

    with unit_of_work(engine) as session:
        row = session.get(Receivable, receivable_id)
        assert row is not None
        assert row.status == ReceivableStatus.PAID and str(row.balance) == "0.00"
        payments = session.scalars(
            select(Payment).where(
                Payment.tenant_id == tenant_id, Payment.receivable_id == receivable_id
            )
        ).all()
        assert len(payments) == 1
        assert payments[0].external_id == f"pix:{end_to_end}"
        assert str(payments[0].gross) == "250.00"
        notifications = session.scalar(
            select(func.count())
            .select_from(PixNotification)
            .where(PixNotification.tenant_id == tenant_id)
        )
        assert notifications == 1
    engine.dispose()
    assert date.fromisoformat(pix["due_date"]) == today + timedelta(days=20)
