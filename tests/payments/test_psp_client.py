"""The API Pix adapter against the real local test PSP (HTTP over a socket, no mocks)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from adimple.payments.pix import decode as decode_pix
from adimple.payments.psp import (
    CobvRequest,
    Fine,
    FineMode,
    Interest,
    InterestMode,
    PixClient,
    PspConfig,
    PspError,
)
from adimple.payments.psp.cobv import Discount, DiscountMode, same_charge
from adimple.payments.psp.testserver import (
    RunningPsp,
    free_socket,
    running_psp_server,
    serve_in_thread,
    validate_cobv,
)

D = Decimal
TXID = "Adimple0000000000000000000000001"


@pytest.fixture(scope="module")
def psp() -> Iterator[RunningPsp]:
    with running_psp_server() as running:
        yield running


@pytest.fixture
def client(psp: RunningPsp) -> Iterator[PixClient]:
    config = PspConfig(psp.base_url, psp.client_id, psp.client_secret, backoff_seconds=0.01)
    with PixClient(config) as pix:
        yield pix


def request(**changes: Any) -> CobvRequest:
    base = CobvRequest(
        key="financeiro@loja.example",
        due_date=date(2026, 12, 10),
        amount=D("1234.56"),
        debtor_name="Maria da Silva",
        debtor_document="529.982.247-25",
        fine=Fine(FineMode.PERCENT, D("2")),
        interest=Interest(InterestMode.PERCENT_PER_MONTH, D("1")),
    )
    return dataclasses.replace(base, **changes)


def txid(n: int) -> str:
    return f"Adimple{n:025d}"


class TestCobvBody:
    def test_api_pix_shape(self) -> None:
        body = request(
            discount=Discount(
                DiscountMode.FIXED_UNTIL_DATES, until=((date(2026, 12, 1), D("10")),)
            ),
            payer_message="Loja — título T1",
            additional_info=(("Credor", "Loja Ltda"),),
        ).as_json()
        assert body == {
            "calendario": {"dataDeVencimento": "2026-12-10", "validadeAposVencimento": 30},
            "devedor": {"cpf": "52998224725", "nome": "Maria da Silva"},
            "valor": {
                "original": "1234.56",
                "multa": {"modalidade": 2, "valorPerc": "2.00"},
                "juros": {"modalidade": 3, "valorPerc": "1.00"},
                "desconto": {
                    "modalidade": 1,
                    "descontoDataFixa": [{"data": "2026-12-01", "valorPerc": "10.00"}],
                },
            },
            "chave": "financeiro@loja.example",
            "solicitacaoPagador": "Loja — título T1",
            "infoAdicionais": [{"nome": "Credor", "valor": "Loja Ltda"}],
        }
        assert validate_cobv(body) == []

    def test_cnpj_debtor(self) -> None:
        body = request(debtor_document="12.ABC.345/01DE-35").as_json()
        assert body["devedor"] == {"cnpj": "12ABC34501DE35", "nome": "Maria da Silva"}

    def test_server_validation(self) -> None:
        body = request().as_json()
        body["valor"]["original"] = "12,30"
        body["valor"]["multa"]["modalidade"] = 3
        body["devedor"]["cnpj"] = "11444777000161"
        del body["chave"]
        assert sorted(p for p, _ in validate_cobv(body)) == [
            "cobv.chave",
            "cobv.devedor",
            "cobv.valor.multa.modalidade",
            "cobv.valor.original",
        ]

    def test_same_charge_compares_as_text(self) -> None:
        sent = request().as_json()
        stored = {
            **sent,
            "valor": {**sent["valor"], "multa": {"modalidade": "2", "valorPerc": "2.00"}},
        }
        assert same_charge(sent, stored)
        assert not same_charge(sent, {**stored, "chave": "outra"})


class TestClient:
    def test_create_read_and_dynamic_br_code(self, client: PixClient, psp: RunningPsp) -> None:
        created = client.put_cobv(txid(1), request())
        assert created["status"] == "ATIVA" and created["txid"] == txid(1)
        payload = decode_pix(created["pixCopiaECola"])
        assert payload.is_dynamic and payload.key is None and payload.txid == "***"
        assert payload.url == created["loc"]["location"]
        assert client.get_cobv(txid(1))["valor"]["original"] == "1234.56"
        put = psp.state.requests_to("PUT", f"/v2/cobv/{txid(1)}")[-1]
        assert put.headers["authorization"].startswith("Bearer ")
        assert put.body == request().as_json()

    def test_token_is_cached(self, psp: RunningPsp) -> None:
        config = PspConfig(psp.base_url, psp.client_id, psp.client_secret)
        before = len(psp.state.requests_to("POST", "/oauth/token"))
        with PixClient(config) as pix:
            pix.put_cobv(txid(2), request())
            pix.get_cobv(txid(2))
            pix.get_cobv(txid(2))
        assert len(psp.state.requests_to("POST", "/oauth/token")) == before + 1

    def test_put_twice_is_harmless_and_a_change_revises(self, client: PixClient) -> None:
        first = client.put_cobv(txid(3), request())
        again = client.put_cobv(txid(3), request())
        assert again["revisao"] == first["revisao"] == 0
        revised = client.put_cobv(
            txid(3), request(amount=D("1300.00"), due_date=date(2026, 12, 20))
        )
        assert revised["revisao"] == 1 and revised["txid"] == txid(3)
        assert revised["valor"]["original"] == "1300.00"
        assert revised["calendario"]["dataDeVencimento"] == "2026-12-20"

    def test_cancel(self, client: PixClient) -> None:
        client.put_cobv(txid(4), request())
        assert client.cancel_cobv(txid(4))["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
        assert client.cancel_cobv(txid(4))["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
        with pytest.raises(PspError) as caught:  # a removed charge is not silently reused
            client.put_cobv(txid(4), request())
        assert caught.value.charge_status == "REMOVIDA_PELO_USUARIO_RECEBEDOR"

    def test_validation_error_names_the_property(self, client: PixClient) -> None:
        with pytest.raises(PspError) as caught:
            client.put_cobv(txid(5), request(debtor_document="123"))
        error = caught.value
        assert error.status == 400
        assert error.problem["type"].endswith("/CobVOperacaoInvalida")
        assert error.violations[0]["propriedade"] == "cobv.devedor.cnpj"
        assert "cobv.devedor.cnpj" in str(error) and "400" in str(error)

    def test_not_found(self, client: PixClient) -> None:
        with pytest.raises(PspError) as caught:
            client.get_cobv(txid(999))
        assert caught.value.status == 404

    def test_bad_txid_refused_before_any_call(self, client: PixClient) -> None:
        with pytest.raises(PspError, match="26 to 35"):
            client.put_cobv("curto", request())

    def test_wrong_credentials(self, psp: RunningPsp) -> None:
        config = PspConfig(psp.base_url, psp.client_id, "errado", backoff_seconds=0.01)
        with PixClient(config) as pix, pytest.raises(PspError) as caught:
            pix.get_cobv(txid(1))
        assert caught.value.status == 401 and caught.value.path == "/oauth/token"

    def test_retries_5xx_and_429(self, client: PixClient, psp: RunningPsp) -> None:
        client.put_cobv(txid(6), request())
        httpx.post(f"{psp.base_url}/_test/fail", params={"status": 503, "times": 2})
        before = len(psp.state.requests_to("GET", f"/v2/cobv/{txid(6)}"))
        assert client.get_cobv(txid(6))["status"] == "ATIVA"
        assert len(psp.state.requests_to("GET", f"/v2/cobv/{txid(6)}")) == before + 3
        httpx.post(f"{psp.base_url}/_test/fail", params={"status": 429, "times": 1})
        assert client.get_cobv(txid(6))["status"] == "ATIVA"

    def test_gives_up_after_the_attempts(self, client: PixClient, psp: RunningPsp) -> None:
        httpx.post(f"{psp.base_url}/_test/fail", params={"status": 503, "times": 4})
        with pytest.raises(PspError) as caught:
            client.get_cobv(txid(1))
        assert caught.value.status == 503
        assert "Serviço Indisponível" in str(caught.value)

    def test_unreachable(self) -> None:
        sock = free_socket()
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there
        config = PspConfig(f"http://127.0.0.1:{port}", "a", "b", backoff_seconds=0.01)
        with PixClient(config) as pix, pytest.raises(PspError, match="unreachable") as caught:
            pix.get_cobv(txid(1))
        assert caught.value.status is None


class TestWebhook:
    def test_pay_posts_the_webhook_to_url_plus_pix(
        self, client: PixClient, psp: RunningPsp
    ) -> None:
        received: list[Any] = []
        receiver = FastAPI()

        @receiver.post("/hook/pix")
        async def hook(request: Request) -> dict[str, str]:
            received.append(await request.json())
            return {"ok": "1"}

        with serve_in_thread(receiver) as url:
            client.put_webhook("financeiro@loja.example", f"{url}/hook")
            assert client.get_webhook("financeiro@loja.example")["webhookUrl"] == f"{url}/hook"
            client.put_cobv(txid(7), request())
            paid = httpx.post(f"{psp.base_url}/_test/cobv/{txid(7)}/pay", params={"deliveries": 2})
        assert paid.status_code == 200
        pix = paid.json()["pix"]
        assert re.fullmatch(r"E[A-Za-z0-9]{31}", pix["endToEndId"])
        assert received == [{"pix": [pix]}, {"pix": [pix]}]
        assert pix["txid"] == txid(7) and pix["valor"] == "1234.56"
        assert set(pix) == {"endToEndId", "txid", "valor", "horario", "infoPagador"}
        assert client.get_cobv(txid(7))["status"] == "CONCLUIDA"
        again = httpx.post(f"{psp.base_url}/_test/cobv/{txid(7)}/pay")
        assert again.status_code == 400  # a paid charge cannot be paid again

    def test_invalid_webhook_url(self, client: PixClient) -> None:
        with pytest.raises(PspError) as caught:
            client.put_webhook("financeiro@loja.example", "not a url")
        assert caught.value.status == 400


class TestServerLikeAPsp:
    def test_requires_a_token(self, psp: RunningPsp) -> None:
        response = httpx.get(f"{psp.base_url}/v2/cobv/{txid(1)}")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        expired = httpx.get(
            f"{psp.base_url}/v2/cobv/{txid(1)}", headers={"Authorization": "Bearer nope"}
        )
        assert expired.status_code == 401

    def test_token_endpoint_refuses_other_grants(self, psp: RunningPsp) -> None:
        response = httpx.post(
            f"{psp.base_url}/oauth/token",
            data={"grant_type": "password"},
            auth=(psp.client_id, psp.client_secret),
        )
        assert response.status_code == 400

    def test_txid_pattern_and_json(self, client: PixClient, psp: RunningPsp) -> None:
        headers = {"Authorization": f"Bearer {client.token()}"}
        short = httpx.put(f"{psp.base_url}/v2/cobv/abc", json={}, headers=headers)
        assert short.status_code == 400
        assert short.json()["violacoes"][0]["propriedade"] == "cobv.txid"
        broken = httpx.put(f"{psp.base_url}/v2/cobv/{txid(50)}", content=b"{", headers=headers)
        assert broken.status_code == 400

    def test_every_request_is_recorded(self, psp: RunningPsp) -> None:
        listed = httpx.get(f"{psp.base_url}/_test/requests").json()
        assert {"method", "path", "body"} <= set(listed[0])
        assert any(r["path"] == "/oauth/token" for r in listed)
