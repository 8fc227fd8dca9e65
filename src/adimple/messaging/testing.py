"""Real local servers that speak the channels' protocols, for tests, benchmarks and the demo.

- :func:`running_smtp_server`: an aiosmtpd server on a free port that keeps every message it
  receives (parsed), optionally with STARTTLS or implicit TLS and AUTH, and that can refuse
  given recipients with a 5xx or a 4xx.
- :func:`running_http_provider`: a threaded HTTP/1.1 server on a free port that speaks the
  three HTTP formats the adapters use — generic JSON (``POST /messages``), WhatsApp Cloud API
  (``POST /{version}/{phone_number_id}/messages``) and Zenvia v2
  (``POST /v2/channels/sms/messages``) — records every request, and can be told to answer
  "invalid number" (each API's own error shape), 500, 429 or to hang for given numbers.

Nothing here is mocked: the adapters open real sockets to these servers.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_tls(directory: Path) -> TlsFiles | None:
    """A throwaway certificate for 127.0.0.1/localhost (None when openssl is not installed)."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    authenticated_as: str | None = None
    tls: bool = False
    peer: Any = None  # the client's (host, port): one per connection


@dataclass
class SmtpServer:
    """What :func:`running_smtp_server` yields: where it listens and what arrived."""

    host: str
    port: int
    messages: list[ReceivedEmail] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)  # recipient → SMTP reply
    pipelining: bool = True  # offer PIPELINING (RFC 2920) in the EHLO reply
    client_tls: ssl.SSLContext | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.01)
        with self.lock:
            return list(self.messages)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands one by one from its stream, so pipelined commands work; it
        # only does not say so.
        session.host_name = hostname
        if self.server.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.server.reject.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        parsed = message_from_bytes(raw, policy=policy.default)
        login = getattr(session, "auth_data", None)
        with self.server.lock:
            self.server.messages.append(
                ReceivedEmail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=parsed,
                    raw=raw,
                    authenticated_as=login.decode() if isinstance(login, bytes) else login,
                    tls=getattr(session, "ssl", None) is not None,
                    peer=getattr(session, "peer", None),
                )
            )
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp_server(
    *,
    users: dict[str, str] | None = None,
    starttls: bool = False,
    implicit_tls: bool = False,
    reject: dict[str, str] | None = None,
    pipelining: bool = True,
) -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1:<free port>.

    ``users`` enables AUTH (PLAIN/LOGIN) and requires it; ``starttls`` offers and requires
    STARTTLS, ``implicit_tls`` wraps the socket (SMTPS) — both with a throwaway certificate
    whose client context is ``server.client_tls``. ``reject`` maps recipients to the reply
    they get at RCPT (e.g. ``"550 5.1.1 mailbox unavailable"``).
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    server = SmtpServer(
        host="127.0.0.1",
        port=free_port(),
        reject={k.lower(): v for k, v in (reject or {}).items()},
        pipelining=pipelining,
    )
    kwargs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        tls = self_signed_tls(Path(folder)) if (starttls or implicit_tls) else None
        if (starttls or implicit_tls) and tls is None:
            raise RuntimeError("openssl is needed for a TLS test server")
        if tls is not None:
            server.client_tls = tls.client_context()
            if starttls:
                kwargs.update(tls_context=tls.server_context(), require_starttls=True)
            else:
                kwargs["ssl_context"] = tls.server_context()
        if users:

            def authenticator(
                _server: Any, session: Any, _envelope: Any, mechanism: str, auth_data: Any
            ) -> AuthResult:
                if isinstance(auth_data, LoginPassword):
                    login, password = auth_data.login.decode(), auth_data.password.decode()
                    if users.get(login) == password:
                        return AuthResult(success=True, auth_data=login)
                return AuthResult(success=False, handled=False)

            kwargs.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=bool(tls),
            )
        controller = Controller(
            _Handler(server),
            hostname=server.host,
            port=server.port,
            server_hostname="localhost",
            **kwargs,
        )
        controller.start()
        try:
            yield server
        finally:
            controller.stop()


# --- HTTP providers --------------------------------------------------------------------------

_WHATSAPP_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)/messages$")
GENERIC, WHATSAPP, ZENVIA = "generic", "whatsapp_cloud", "zenvia"


@dataclass(frozen=True)
class RecordedRequest:
    api: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class HttpProvider:
    """What :func:`running_http_provider` yields; tell it how to misbehave per number."""

    host: str
    port: int
    token: str | None = None
    hang_seconds: float = 30.0
    requests: list[RecordedRequest] = field(default_factory=list)
    accepted: list[RecordedRequest] = field(default_factory=list)
    behaviours: dict[str, str] = field(default_factory=dict)  # digits → invalid|error|…
    failures_left: int = 0
    failure_status: int = 500
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    _ids: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def behave(self, number: str, behaviour: str) -> None:
        """``invalid`` (400, each API's shape), ``rejected`` (400 about the message, not the
        number: a WhatsApp template/parameter mismatch), ``error`` (500), ``rate_limit`` (429),
        ``hang`` (no answer for ``hang_seconds``), ``ok`` (back to normal)."""
        if behaviour not in ("invalid", "rejected", "error", "rate_limit", "hang", "ok"):
            raise ValueError(behaviour)
        with self.lock:
            self.behaviours[re.sub(r"\D", "", number)] = behaviour

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failures_left, self.failure_status = count, status

    def requests_for(self, api: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.api == api]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.accepted.clear()
            self.behaviours.clear()
            self._ids.clear()
            self.failures_left = 0


def _invalid_body(api: str, number: str) -> dict[str, Any]:
    if api == WHATSAPP:
        return {
            "error": {
                "message": "(#131026) Message Undeliverable.",
                "type": "OAuthException",
                "code": 131026,
                "error_data": {"messaging_product": "whatsapp", "details": "not a WhatsApp user"},
                "fbtrace_id": uuid.uuid4().hex[:20],
            }
        }
    if api == ZENVIA:
        return {
            "code": "VALIDATION_ERROR",
            "message": "Validation error",
            "details": [
                {"code": "INVALID_FORMAT", "path": "to", "message": f"invalid number {number}"}
            ],
        }
    return {"error": {"code": "invalid_recipient", "message": f"invalid number {number}"}}


def _rejected_body(api: str) -> dict[str, Any]:
    if api == WHATSAPP:
        return {
            "error": {
                "message": "(#132000) Number of parameters does not match the expected number",
                "type": "OAuthException",
                "code": 132000,
                "fbtrace_id": uuid.uuid4().hex[:20],
            }
        }
    if api == ZENVIA:
        return {
            "code": "VALIDATION_ERROR",
            "message": "Validation error",
            "details": [{"code": "MAX_LENGTH", "path": "contents.0.text", "message": "too long"}],
        }
    return {"error": {"code": "invalid_content", "message": "message refused"}}


def _make_handler(provider: HttpProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle on this
        # side and delayed ACK on the client's add ~40 ms to every response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
            path = self.path.split("?", 1)[0]
            if path == "/messages":
                api = GENERIC
            elif path == "/v2/channels/sms/messages":
                api = ZENVIA
            elif _WHATSAPP_PATH.match(path):
                api = WHATSAPP
            else:
                self._reply(404, {"error": {"code": "not_found", "message": path}})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = RecordedRequest(api, "POST", path, headers, body, time.time())
            with provider.lock:
                provider.requests.append(request)
                failing = provider.failures_left > 0
                if failing:
                    provider.failures_left -= 1
            if failing:
                self._reply(provider.failure_status, {"error": {"code": "server_error"}})
                return
            if provider.token is not None:
                given = (
                    headers.get("x-api-token")
                    if api == ZENVIA
                    else headers.get("authorization", "").removeprefix("Bearer ")
                )
                if given != provider.token:
                    self._reply(401, {"error": {"code": 190, "message": "invalid token"}})
                    return
            if not isinstance(body, dict) or not body.get("to"):
                self._reply(400, {"error": {"code": "invalid_request", "message": "no 'to'"}})
                return
            number = re.sub(r"\D", "", str(body["to"]))
            with provider.lock:
                behaviour = provider.behaviours.get(number, "ok")
            if behaviour == "hang":
                provider.release.wait(provider.hang_seconds)
                behaviour = "error"
            if behaviour == "invalid":
                self._reply(400, _invalid_body(api, number))
                return
            if behaviour == "rejected":
                self._reply(400, _rejected_body(api))
                return
            if behaviour == "error":
                self._reply(500, {"error": {"code": "server_error", "message": "boom"}})
                return
            if behaviour == "rate_limit":
                self._reply(429, {"error": {"code": 130429, "message": "rate limit hit"}})
                return
            key = headers.get("idempotency-key") or str(body.get("idempotency_key") or "")
            with provider.lock:
                known = provider._ids.get((api, key)) if key else None
                message_id = known or (
                    f"wamid.{uuid.uuid4().hex}" if api == WHATSAPP else str(uuid.uuid4())
                )
                if key:
                    provider._ids[(api, key)] = message_id
                if known is None:
                    provider.accepted.append(request)
            if api == WHATSAPP:
                self._reply(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body["to"], "wa_id": number}],
                        "messages": [{"id": message_id}],
                    },
                )
            elif api == ZENVIA:
                self._reply(
                    200,
                    {
                        "id": message_id,
                        "from": body.get("from"),
                        "to": body["to"],
                        "direction": "OUT",
                        "channel": "sms",
                        "contents": body.get("contents", []),
                        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                )
            elif known is not None:
                self._reply(409, {"id": message_id, "status": "duplicate"})
            else:
                self._reply(201, {"id": message_id, "status": "accepted"})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that time out and hang up are expected here


@contextmanager
def running_http_provider(
    *, token: str | None = None, hang_seconds: float = 30.0
) -> Iterator[HttpProvider]:
    """A real HTTP server on 127.0.0.1:<free port> speaking the three provider APIs.

    With ``token`` set, requests without it (bearer, or ``X-API-TOKEN`` for Zenvia) get 401.
    """
    provider = HttpProvider(host="127.0.0.1", port=0, token=token, hang_seconds=hang_seconds)
    server = _Server(("127.0.0.1", 0), _make_handler(provider))
    provider.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="http-provider", daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_forever() -> None:  # pragma: no cover - manual use: python -m adimple.messaging.testing
    """Starts both servers and prints where they listen (for trying the demo by hand)."""
    with running_smtp_server() as smtp, running_http_provider() as http:
        print(json.dumps({"smtp": f"{smtp.host}:{smtp.port}", "http": http.url}), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return


if __name__ == "__main__":  # pragma: no cover
    run_forever()
