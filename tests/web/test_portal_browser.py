"""Issue 7's journey in a real browser (Playwright driving Debian's /usr/bin/chromium), on both
databases: `adimple run` plans a message → `adimple worker` e-mails it to a real SMTP server →
the link in that e-mail → identity confirmation → debts → offers → agreement → PIX paid at the
local PSP test server, whose webhook confirms it → the page notices → receipt.

Every page is checked with axe-core (from the npm registry, injected into the page): no serious
or critical WCAG 2.1 A/AA violations. Screenshots at 390×844 and 1280×800 are written to
``test-artifacts/portal/`` (``ADIMPLE_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adimple.cadence.library import install_defaults
from adimple.cli import app as cli_app
from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.kit.calendar import next_bank_business_day
from adimple.messaging.testing import running_smtp_server
from adimple.negotiation.models import Agreement
from adimple.payments.billing import service as billing
from adimple.payments.billing.models import ChargeDocument
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.payments.psp.testserver import running_psp_server, serve_in_thread
from adimple.portfolio.models import Payment, Receivable, ReceivableStatus
from adimple.settings import get_settings
from adimple.tenancy.service import create_api_key, create_tenant
from adimple.web.app import create_app
from adimple.web.portal.links import make_portal_token
from builders import add_contact, make_customer, make_receivable, pay

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("ADIMPLE_TEST_ARTIFACTS", "test-artifacts")) / "portal"
SIZES = {"mobile": (390, 844), "desktop": (1280, 800)}
CPF = "52998224725"
BIRTH = "31/01/1980"
ITAU = {"bank": "341", "agencia": "1234", "conta": "12345", "conta_dv": "6", "carteira": "109"}
PIX = {"key": "financeiro@loja.example", "merchant_name": "Loja Exemplo", "merchant_city": "SP"}
runner = CliRunner()


def invoke(*args: str) -> dict[str, Any]:
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@dataclass
class Portal:
    url: str
    psp: Any
    slug: str
    tenant_id: uuid.UUID
    maria_id: uuid.UUID
    joao_id: uuid.UUID
    engine: Any
    db: str


@pytest.fixture
def portal(cli_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Portal]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make chromium` installs it")
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make axe` installs it from the npm registry")
    monkeypatch.setenv("ADIMPLE_SANDBOX_DIR", str(tmp_path / "sandbox"))
    engine = make_engine(cli_database)
    upgrade(engine)
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    slug = f"portal-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug=slug,
            legal_name="Loja Exemplo Comércio Ltda",
            document="11.222.333/0001-81",
            address="Rua Augusta, 100",
            city="São Paulo",
            uf="SP",
            postal_code="01305000",
        )
        install_defaults(session, tenant_id=tenant.id, actor="test")
        _, token = create_api_key(session, tenant_id=tenant.id, name="psp-webhook")
        maria = make_customer(
            session,
            tenant,
            name="Maria da Silva",
            document=CPF,
            birth_date=date(1980, 1, 31),
            external_id=f"{slug}-maria",
        )
        add_contact(session, maria, "email", "maria@example.com", verified=True)
        old = make_receivable(session, maria, date(2026, 3, 10), issue=date(2026, 2, 1))
        pay(session, old, date(2026, 3, 25))
        for n, days in enumerate((12, 3), start=1):
            make_receivable(
                session,
                maria,
                today - timedelta(days=days),
                "250.00",
                issue=today - timedelta(days=days + 30),
                description=f"Contrato 4471, parcela {n}/10",
            )
        joao = make_customer(
            session,
            tenant,
            name="João Souza",
            document="11144477735",
            birth_date=date(1975, 5, 5),
            external_id=f"{slug}-joao",
        )
        make_receivable(session, joao, today - timedelta(days=20), "90.00")
        ids = (tenant.id, maria.id, joao.id)
    with running_psp_server() as psp, serve_in_thread(create_app(engine)) as url:
        with unit_of_work(engine) as session:
            billing.save_settings(
                session,
                tenant_id=ids[0],
                document=BillingSettingsInput.model_validate(
                    {
                        "boleto": ITAU,
                        "pix": PIX,
                        "psp": {
                            "base_url": psp.base_url,
                            "client_id": psp.client_id,
                            "client_secret": psp.client_secret,
                            "webhook_url": f"{url}/api/v1/webhooks/pix/{token}",
                        },
                    }
                ),
                actor="test",
            )
            billing.register_webhook(session, tenant_id=ids[0], actor="test")
        monkeypatch.setenv("ADIMPLE_BASE_URL", url)
        get_settings.cache_clear()
        yield Portal(url, psp, slug, *ids, engine=engine, db=cli_database)
    get_settings.cache_clear()
    engine.dispose()


def sent_link(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> str:
    """Plans the next business day and sends its e-mail; returns the portal link in it."""
    day = next_bank_business_day(date.today() + timedelta(days=1))
    plan = invoke("run", "--date", day.isoformat(), "--tenant", portal.slug)
    assert plan["tenants"][0]["contacts"] >= 1, json.dumps(plan, indent=1)[:3000]
    with running_smtp_server() as smtp:
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_EMAIL",
            json.dumps(
                {
                    "provider": "smtp",
                    "settings": {
                        "host": smtp.host,
                        "port": smtp.port,
                        "security": "none",
                        "from_address": "cobranca@lojaexemplo.example",
                    },
                }
            ),
        )
        stats = invoke(
            "worker", "--once", "--tenant", portal.slug, "--as-of", f"{day.isoformat()}T17:00:00Z"
        )
        assert stats["sent"] >= 1, stats
        received = smtp.wait_for(1)
    text = received[0].message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(re.escape(portal.url) + r"/portal/l/[A-Za-z0-9_\-.]+", text)
    assert match, text
    return match.group(0).rstrip(".")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def check_accessibility(page: Any, name: str) -> None:
    """axe-core over the page: no serious or critical WCAG 2.1 A/AA violation."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern (a script
    # tag would be refused: the portal allows no inline script, and that is what we want).
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"


def shoot(page: Any, portal: Portal, name: str) -> None:
    """Screenshots at both sizes, and the page must not scroll sideways at 360 px."""
    folder = ARTIFACTS / ("sqlite" if portal.db.startswith("sqlite") else "postgresql")
    folder.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(folder / f"{name}-{label}-{width}x{height}.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways at 360 px by {overflow}px"
    page.set_viewport_size({"width": 390, "height": 844})


def test_journey_from_a_sent_message_to_the_receipt(
    portal: Portal, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = sent_link(portal, monkeypatch)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="pt-BR")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(link)
    assert page.url == f"{portal.url}/portal/entrar"  # the token left the address bar
    assert page.get_by_role("heading", name="Confirme sua identidade").is_visible()
    check_accessibility(page, "entrar")
    shoot(page, portal, "01-entrar")
    page.get_by_label("CPF ou CNPJ").fill("529.982.247-25")
    page.get_by_label("Data de nascimento").fill(BIRTH)
    page.get_by_role("button", name="Entrar").click()

    page.wait_for_url("**/portal/dividas")
    body = page.locator("main").inner_text()
    assert "Contrato 4471, parcela 1/10" in body and "12 dias em atraso" in body
    assert "Loja Exemplo Comércio Ltda" in page.locator("footer").inner_text()
    check_accessibility(page, "dividas")
    shoot(page, portal, "02-dividas")

    page.get_by_role("link", name="Ver propostas de pagamento").click()
    page.wait_for_url("**/portal/ofertas")
    rows = page.locator("table.ofertas tbody tr")
    assert rows.count() >= 2
    check_accessibility(page, "ofertas")
    shoot(page, portal, "03-ofertas")
    rows.nth(1).get_by_role("link").click()  # the first plan in installments

    page.wait_for_url(re.compile(r".*/portal/ofertas/.+"))
    check_accessibility(page, "confirmar")
    shoot(page, portal, "04-confirmar")
    page.get_by_role("button", name="Fechar acordo").click()
    # Without the consent box the browser's own validation keeps the form (required).
    assert "/portal/ofertas/" in page.url
    page.get_by_label("Li e aceito as condições deste acordo.").check()
    page.get_by_role("button", name="Fechar acordo").click()

    page.wait_for_url(re.compile(r".*/portal/acordos/.+"))
    assert (
        "Aguardando a 1ª parcela" in page.locator("main").inner_text()
        or page.locator(".situacao-pending").is_visible()
    )
    check_accessibility(page, "acordo")
    shoot(page, portal, "05-acordo")
    page.get_by_role("link", name="Pagar parcela 1").click()

    page.wait_for_url(re.compile(r".*/portal/pagar/.+"))
    receivable_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    br_code = page.get_by_label("PIX copia e cola").input_value()
    assert br_code.startswith("000201") and "br.gov.bcb.pix" in br_code
    assert page.get_by_role("button", name="Copiar código PIX").is_visible()
    assert page.locator(".qr svg").count() == 1
    assert page.get_by_label("Linha digitável").input_value().startswith("34191")
    check_accessibility(page, "pagar")
    shoot(page, portal, "06-pagar")

    with unit_of_work(portal.engine) as session:
        txid = session.scalars(
            select(ChargeDocument.txid).where(
                ChargeDocument.receivable_id == receivable_id, ChargeDocument.txid.is_not(None)
            )
        ).first()
    assert txid
    paid = httpx.post(f"{portal.psp.base_url}/_test/cobv/{txid}/pay", timeout=60)
    assert paid.status_code == 200, paid.text
    assert [d["status"] for d in paid.json()["deliveries"]] == [200]

    # HTMX polls the status block; no reload by the test.
    page.get_by_text("Pagamento confirmado").wait_for(timeout=20_000)
    page.get_by_role("link", name="Ver recibo").click()
    page.wait_for_url("**/portal/recibos")
    assert page.locator("table tbody tr").count() >= 1
    check_accessibility(page, "recibos")
    shoot(page, portal, "07-recibos")
    page.locator("table tbody tr").last.get_by_role("link", name="Ver recibo").click()
    assert "Recibo de pagamento" in page.locator("h1").inner_text()
    check_accessibility(page, "recibo")
    shoot(page, portal, "08-recibo")

    for path, name in (("/portal/preferencias", "preferencias"), ("/portal/lgpd", "lgpd")):
        page.goto(portal.url + path)
        check_accessibility(page, name)
        shoot(page, portal, f"09-{name}")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()

    with unit_of_work(portal.engine) as session:
        agreement = session.scalars(
            select(Agreement).where(Agreement.customer_id == portal.maria_id)
        ).one()
        assert agreement.status == "active" and agreement.channel == "portal"
        assert agreement.consent["terms_version"]
        statuses = set(
            session.scalars(
                select(Receivable.status).where(
                    Receivable.customer_id == portal.maria_id,
                    Receivable.description.like("Contrato 4471%"),
                )
            )
        )
        assert statuses == {ReceivableStatus.AGREEMENT}
        payments = session.scalars(
            select(Payment).where(Payment.receivable_id == receivable_id)
        ).all()
        assert len(payments) == 1


def _link(customer_id: uuid.UUID, url: str, *, issued_at: datetime | None = None) -> str:
    token = make_portal_token(customer_id, uuid.uuid4(), issued_at=issued_at or datetime.now(UTC))
    return f"{url}/portal/l/{token}"


def test_failure_paths(portal: Portal, browser: Any) -> None:
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()

    # An expired link: nothing about the debt, a clear page.
    page.goto(_link(portal.maria_id, portal.url, issued_at=datetime.now(UTC) - timedelta(days=31)))
    assert "expirou" in page.locator("main").inner_text()
    check_accessibility(page, "expirado")
    shoot(page, portal, "10-link-expirado")

    # Another customer's link with Maria's data: refused, no hint about whose link it is.
    page.goto(_link(portal.joao_id, portal.url))
    page.get_by_label("CPF ou CNPJ").fill(CPF)
    page.get_by_label("Data de nascimento").fill(BIRTH)
    page.get_by_role("button", name="Entrar").click()
    text = page.locator("main").inner_text()
    assert "não conferem" in text and "João" not in page.content()

    # Wrong birth date five times: locked out, even for the right answer afterwards.
    page.goto(_link(portal.maria_id, portal.url))
    for n in range(1, 6):
        page.get_by_label("CPF ou CNPJ").fill(CPF)
        page.get_by_label("Data de nascimento").fill(f"0{n}/02/1981")
        page.get_by_role("button", name="Entrar").click()
        if n < 5:
            assert "não conferem" in page.locator("main").inner_text()
            if n == 1:
                check_accessibility(page, "erro-identidade")
    assert "bloqueado" in page.locator("main").inner_text()
    shoot(page, portal, "11-bloqueado")
    page.goto(_link(portal.maria_id, portal.url))
    page.get_by_label("CPF ou CNPJ").fill(CPF)
    page.get_by_label("Data de nascimento").fill(BIRTH)
    page.get_by_role("button", name="Entrar").click()
    assert "bloqueado" in page.locator("main").inner_text()
