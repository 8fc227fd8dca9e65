"""A local PSP that speaks the API Pix subset the adapter uses — for tests and the demo.

A real HTTP server (FastAPI app run by uvicorn in a background thread) with in-memory state:

- ``POST /oauth/token``: OAuth 2.0 client credentials (HTTP Basic or form fields); tokens last
  ``token_lifetime`` seconds;
- ``PUT|GET|PATCH /v2/cobv/{txid}``: validated like a PSP would (400 with API Pix problem JSON,
  ``violacoes`` naming each bad property); a PUT on a txid that exists is refused
  (``CobVOperacaoInvalida``), as PSPs do; ``PATCH`` revises (``revisao`` + 1) or cancels;
- ``PUT|GET /v2/webhook/{chave}``;
- test-only: ``POST /_test/cobv/{txid}/pay`` marks the charge ``CONCLUIDA``, records a ``pix``
  with a fresh endToEndId and POSTs ``{"pix": [...]}`` to the registered webhook URL + ``/pix``
  (retried); ``POST /_test/fail`` makes the next calls answer an error (retry tests);
  ``GET /_test/requests`` lists every request received.

``running_psp_server()`` starts it on a free port and yields a :class:`RunningPsp` (its
``base_url``, credentials and ``state`` with the recorded requests). ``adimple psp-testserver``
runs it in the foreground for the demo.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from adimple.payments.pix.codec import build, encode
from adimple.payments.psp.cobv import COBV_TXID, VALUE

PROBLEM = "https://pix.bcb.gov.br/api/v2/error/"
DEFAULT_CLIENT_ID = "adimple-test"
DEFAULT_CLIENT_SECRET = "adimple-test-secret"
_ALNUM = string.ascii_letters + string.digits
_CPF = re.compile(r"^\d{11}$")
_CNPJ = re.compile(r"^[0-9A-Z]{12}\d{2}$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class PspState:
    """Everything the server holds; safe to read from the test thread."""

    client_id: str
    client_secret: str
    token_lifetime: int = 3600
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[str, float] = field(default_factory=dict)
    cobvs: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def requests_to(self, method: str, prefix: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]


def _problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM + kind, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _invalid_cobv(violations: list[tuple[str, str]]) -> JSONResponse:
    return _problem(
        400,
        "CobVOperacaoInvalida",
        "Cobrança inválida.",
        "A requisição que busca alterar ou criar uma cobrança com vencimento não respeita o "
        "schema ou está semanticamente errada.",
        violacoes=[{"razao": razao, "propriedade": prop} for prop, razao in violations],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _value_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(VALUE.match(value))


def validate_cobv(body: Any, *, partial: bool = False) -> list[tuple[str, str]]:
    """The checks a PSP applies to a ``CobVSolicitada`` (or a ``CobVRevisada`` if partial)."""
    if not isinstance(body, dict):
        return [("cobv", "o corpo deve ser um objeto JSON")]
    errors: list[tuple[str, str]] = []
    calendario = body.get("calendario")
    if calendario is None and not partial:
        errors.append(("cobv.calendario", "campo obrigatório"))
    if calendario is not None:
        if not isinstance(calendario, dict):
            errors.append(("cobv.calendario", "deve ser um objeto"))
        else:
            due = calendario.get("dataDeVencimento")
            if due is None and not partial:
                errors.append(("cobv.calendario.dataDeVencimento", "campo obrigatório"))
            elif due is not None:
                try:
                    date.fromisoformat(str(due))
                    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(due)):
                        raise ValueError
                except ValueError:
                    errors.append(("cobv.calendario.dataDeVencimento", "data inválida"))
            validity = calendario.get("validadeAposVencimento")
            if validity is not None and (
                not isinstance(validity, int) or isinstance(validity, bool) or validity < 0
            ):
                errors.append(
                    ("cobv.calendario.validadeAposVencimento", "inteiro não negativo esperado")
                )
    devedor = body.get("devedor")
    if devedor is None and not partial:
        errors.append(("cobv.devedor", "campo obrigatório"))
    if devedor is not None:
        if not isinstance(devedor, dict):
            errors.append(("cobv.devedor", "deve ser um objeto"))
        else:
            has_cpf, has_cnpj = "cpf" in devedor, "cnpj" in devedor
            if has_cpf == has_cnpj:
                errors.append(("cobv.devedor", "informe cpf ou cnpj (um dos dois)"))
            if has_cpf and not _CPF.match(str(devedor["cpf"])):
                errors.append(("cobv.devedor.cpf", "CPF com 11 dígitos"))
            if has_cnpj and not _CNPJ.match(str(devedor["cnpj"])):
                errors.append(("cobv.devedor.cnpj", "CNPJ com 14 caracteres"))
            nome = devedor.get("nome")
            if not isinstance(nome, str) or not nome.strip() or len(nome) > 200:
                errors.append(("cobv.devedor.nome", "nome obrigatório, até 200 caracteres"))
    valor = body.get("valor")
    if valor is None and not partial:
        errors.append(("cobv.valor", "campo obrigatório"))
    if valor is not None:
        errors.extend(_validate_valor(valor, partial=partial))
    chave = body.get("chave")
    if chave is None and not partial:
        errors.append(("cobv.chave", "campo obrigatório"))
    if chave is not None and (not isinstance(chave, str) or not 1 <= len(chave) <= 77):
        errors.append(("cobv.chave", "chave de 1 a 77 caracteres"))
    message = body.get("solicitacaoPagador")
    if message is not None and (not isinstance(message, str) or len(message) > 140):
        errors.append(("cobv.solicitacaoPagador", "até 140 caracteres"))
    return errors


def _validate_valor(valor: Any, *, partial: bool) -> list[tuple[str, str]]:
    if not isinstance(valor, dict):
        return [("cobv.valor", "deve ser um objeto")]
    errors: list[tuple[str, str]] = []
    original = valor.get("original")
    if original is None and not partial:
        errors.append(("cobv.valor.original", "campo obrigatório"))
    elif original is not None and (not _value_ok(original) or Decimal(original) <= 0):
        errors.append(("cobv.valor.original", "valor no formato \\d{1,10}\\.\\d{2}, maior que 0"))
    for name, low, high in (("multa", 1, 2), ("juros", 1, 8), ("abatimento", 1, 2)):
        item = valor.get(name)
        if item is None:
            continue
        where = f"cobv.valor.{name}"
        if not isinstance(item, dict):
            errors.append((where, "deve ser um objeto"))
            continue
        mode = item.get("modalidade")
        if not isinstance(mode, int) or isinstance(mode, bool) or not low <= mode <= high:
            errors.append((f"{where}.modalidade", f"modalidade de {low} a {high}"))
        if not _value_ok(item.get("valorPerc")):
            errors.append((f"{where}.valorPerc", "valor no formato \\d{1,10}\\.\\d{2}"))
        elif name == "multa" and mode == 2 and Decimal(item["valorPerc"]) > 100:
            errors.append((f"{where}.valorPerc", "percentual acima de 100"))
    desconto = valor.get("desconto")
    if desconto is not None:
        errors.extend(_validate_discount(desconto))
    return errors


def _validate_discount(desconto: Any) -> list[tuple[str, str]]:
    where = "cobv.valor.desconto"
    if not isinstance(desconto, dict):
        return [(where, "deve ser um objeto")]
    mode = desconto.get("modalidade")
    if not isinstance(mode, int) or isinstance(mode, bool) or not 1 <= mode <= 6:
        return [(f"{where}.modalidade", "modalidade de 1 a 6")]
    if mode in (1, 2):
        dates = desconto.get("descontoDataFixa")
        if not isinstance(dates, list) or not 1 <= len(dates) <= 3:
            return [(f"{where}.descontoDataFixa", "de 1 a 3 datas")]
        for item in dates:
            if not isinstance(item, dict) or not _value_ok(item.get("valorPerc")):
                return [(f"{where}.descontoDataFixa", "data e valorPerc obrigatórios")]
        return []
    if not _value_ok(desconto.get("valorPerc")):
        return [(f"{where}.valorPerc", "valor no formato \\d{1,10}\\.\\d{2}")]
    return []


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def create_app(state: PspState) -> FastAPI:
    app = FastAPI(title="Adimple PSP test server (API Pix subset)", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                import json

                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        with state.lock:
            state.requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.headers), body)
            )
            failure = None
            if state.failures and not request.url.path.startswith("/_test"):
                failure = state.failures.pop(0)
        if failure is not None:
            status, payload = failure
            return JSONResponse(payload, status_code=status, media_type="application/problem+json")
        response: Response = await call_next(request)
        return response

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return False
        with state.lock:
            expires = state.tokens.get(header[7:].strip())
        return expires is not None and expires > time.monotonic()

    def unauthorized() -> JSONResponse:
        return _problem(401, "AcessoNegado", "Acesso Negado", "token ausente, inválido ou expirado")

    @app.post("/oauth/token")
    async def token(request: Request) -> Response:
        form = await request.form()
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
                client_id, _, client_secret = decoded.partition(":")
            except ValueError:
                pass
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != state.client_id or client_secret != state.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        access = secrets.token_urlsafe(24)
        with state.lock:
            state.tokens[access] = time.monotonic() + state.token_lifetime
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": state.token_lifetime,
                "scope": str(form.get("scope") or ""),
            }
        )

    @app.put("/v2/cobv/{txid}")
    async def put_cobv(txid: str, request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        if not COBV_TXID.match(txid):
            return _invalid_cobv([("cobv.txid", "txid de 26 a 35 letras ou dígitos")])
        try:
            body = await request.json()
        except ValueError:
            return _invalid_cobv([("cobv", "JSON inválido")])
        errors = validate_cobv(body)
        if errors:
            return _invalid_cobv(errors)
        with state.lock:
            if txid in state.cobvs:
                return _invalid_cobv([("cobv.txid", "txid já utilizado em outra cobrança")])
            loc_id = len(state.cobvs) + 1
            location = f"{_host(state)}/qr/v2/cobv/{secrets.token_hex(16)}"
            record = {
                **body,
                "txid": txid,
                "revisao": 0,
                "status": "ATIVA",
                "calendario": {
                    "criacao": _now(),
                    "validadeAposVencimento": 30,
                    **body["calendario"],
                },
                "loc": {"id": loc_id, "location": location, "tipoCob": "cobv"},
                "location": location,
                "pixCopiaECola": _copia_e_cola(location),
                "recebedor": {"nome": "Recebedor Teste", "cnpj": "11222333000181"},
            }
            state.cobvs[txid] = record
            return JSONResponse(record, status_code=201)

    @app.get("/v2/cobv/{txid}")
    async def get_cobv(txid: str, request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        with state.lock:
            record = state.cobvs.get(txid)
            if record is None:
                return _problem(404, "CobVNaoEncontrado", "Cobrança não encontrada.", txid)
            return JSONResponse(record)

    @app.patch("/v2/cobv/{txid}")
    async def patch_cobv(txid: str, request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return _invalid_cobv([("cobv", "JSON inválido")])
        with state.lock:
            record = state.cobvs.get(txid)
            if record is None:
                return _problem(404, "CobVNaoEncontrado", "Cobrança não encontrada.", txid)
            if record["status"] != "ATIVA":
                return _invalid_cobv([("cobv.status", f"cobrança está {record['status']}")])
            if isinstance(body, dict) and "status" in body:
                if body["status"] != "REMOVIDA_PELO_USUARIO_RECEBEDOR":
                    return _invalid_cobv([("cobv.status", "só REMOVIDA_PELO_USUARIO_RECEBEDOR")])
                record["status"] = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
                record["revisao"] += 1
                return JSONResponse(record)
            errors = validate_cobv(body, partial=True)
            if errors:
                return _invalid_cobv(errors)
            _merge(record, body)
            record["revisao"] += 1
            return JSONResponse(record)

    @app.put("/v2/webhook/{chave}")
    async def put_webhook(chave: str, request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        body = await request.json()
        url = body.get("webhookUrl") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _problem(
                400,
                "WebhookOperacaoInvalida",
                "Webhook inválido.",
                "webhookUrl deve ser uma URL",
                violacoes=[{"razao": "URL inválida", "propriedade": "webhookUrl"}],
            )
        with state.lock:
            state.webhooks[chave] = url
        return Response(status_code=204)

    @app.get("/v2/webhook/{chave}")
    async def get_webhook(chave: str, request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        with state.lock:
            url = state.webhooks.get(chave)
        if url is None:
            return _problem(404, "WebhookNaoEncontrado", "Webhook não encontrado.", chave)
        return JSONResponse({"webhookUrl": url, "chave": chave, "criacao": _now()})

    @app.post("/_test/cobv/{txid}/pay")
    def pay(txid: str, valor: str | None = None, deliveries: int = 1) -> Response:
        """Test only: pays the cobv, then delivers the webhook ``deliveries`` times."""
        with state.lock:
            record = state.cobvs.get(txid)
            if record is None:
                return _problem(404, "CobVNaoEncontrado", "Cobrança não encontrada.", txid)
            if record["status"] != "ATIVA":
                return _invalid_cobv([("cobv.status", f"cobrança está {record['status']}")])
            end_to_end = "E" + "".join(secrets.choice(_ALNUM) for _ in range(31))
            pix = {
                "endToEndId": end_to_end,
                "txid": txid,
                "valor": valor or record["valor"]["original"],
                "horario": _now(),
                "infoPagador": "pagamento de teste",
            }
            record["status"] = "CONCLUIDA"
            record.setdefault("pix", []).append(pix)
            url = state.webhooks.get(record["chave"])
        results = [_deliver(state, url, pix) for _ in range(max(0, deliveries))] if url else []
        return JSONResponse({"pix": pix, "webhook_url": url, "deliveries": results})

    @app.post("/_test/fail")
    async def fail(status: int = 503, times: int = 1) -> Response:
        """Test only: the next ``times`` API calls answer ``status`` with a problem body."""
        payload = {
            "type": PROBLEM + "ServicoIndisponivel",
            "title": "Serviço Indisponível",
            "status": status,
            "detail": "falha simulada pelo servidor de teste",
        }
        with state.lock:
            state.failures.extend([(status, payload)] * times)
        return JSONResponse({"queued": times})

    @app.get("/_test/requests")
    async def list_requests() -> Response:
        with state.lock:
            return JSONResponse(
                [{"method": r.method, "path": r.path, "body": r.body} for r in state.requests]
            )

    return app


def _host(state: PspState) -> str:
    return re.sub(r"^https?://", "", state.base_url).rstrip("/")


def _copia_e_cola(location: str) -> str:
    """A dynamic BR Code pointing at the charge's location (BCB manual: no key, txid ***)."""
    return encode(build(merchant_name="Recebedor Teste", merchant_city="Sao Paulo", url=location))


def _deliver(state: PspState, url: str, pix: dict[str, Any]) -> dict[str, Any]:
    """POSTs the webhook like a PSP (API Pix: to ``webhookUrl + "/pix"``), retrying on errors."""
    target = url.rstrip("/") + "/pix"
    status: int | None = None
    error: str | None = None
    attempts = 0
    for attempts in range(1, 4):
        try:
            response = httpx.post(target, json={"pix": [pix]}, timeout=10)
            status, error = response.status_code, None
            if response.status_code < 500:
                break
        except httpx.HTTPError as exc:
            status, error = None, f"{exc.__class__.__name__}: {exc}"
        if attempts < 3:
            time.sleep(0.2 * attempts)
    result = {"url": target, "status": status, "attempts": attempts, "error": error}
    with state.lock:
        state.deliveries.append(result)
    return result


# --- running it ---------------------------------------------------------------------------------


@dataclass
class RunningPsp:
    """A test PSP listening on ``base_url`` (``str(psp)`` is the URL too)."""

    base_url: str
    client_id: str
    client_secret: str
    state: PspState

    def __str__(self) -> str:
        return self.base_url


def free_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Runs an ASGI app with uvicorn in a daemon thread; yields ``http://host:port``."""
    import uvicorn

    sock = free_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_psp_server(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    token_lifetime: int = 3600,
    port: int = 0,
) -> Iterator[RunningPsp]:
    """Starts the test PSP on a free port (or ``port``) and stops it afterwards."""
    state = PspState(
        client_id=client_id, client_secret=client_secret, token_lifetime=token_lifetime
    )
    with serve_in_thread(create_app(state), port=port) as url:
        state.base_url = url
        yield RunningPsp(url, client_id, client_secret, state)


def run_forever(
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> None:  # pragma: no cover - the CLI's foreground mode
    import uvicorn

    state = PspState(client_id=client_id, client_secret=client_secret)
    state.base_url = f"http://{host}:{port}"
    uvicorn.run(create_app(state), host=host, port=port, log_level="info")
