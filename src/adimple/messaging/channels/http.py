"""SMS and WhatsApp over HTTP: a generic JSON provider, the WhatsApp Cloud API and Zenvia.

Each adapter keeps one HTTP/1.1 keep-alive connection per sending thread (stdlib
``http.client``; :class:`KeptConnections`), with connect and read timeouts (default 10 s each),
so one instance serves every dispatcher thread. Not httpx: its request and response models
cost more CPU than everything else a worker does for an SMS (~1.5 ms per POST against
~0.1 ms), and a sender needs one POST with a JSON body and a status code back. Outcomes:

- 2xx → :class:`SendResult` with the provider's message id;
- timeouts, connection errors, 5xx, 429, 408 and 401/403 (credentials: an operator must fix
  the channel, the message must not be lost) → :class:`TransientSendError`;
- 4xx that names the recipient (invalid number, not on WhatsApp) →
  :class:`PermanentSendError` with ``address_invalid=True``; any other 4xx (template or
  payload refused) → ``PermanentSendError(address_invalid=False)``.

The outbox idempotency key travels as the ``Idempotency-Key`` header on every request, and in
the body where the provider has a field for it (generic ``idempotency_key``; WhatsApp
``biz_opaque_callback_data``, echoed back in status webhooks).
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adimple.messaging.channels.base import (
    DEFAULT_TIMEOUT_SECONDS,
    OutgoingMessage,
    PermanentSendError,
    SendResult,
    TransientSendError,
)
from adimple.messaging.sms import prepare
from adimple.portfolio.models import Channel


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


@dataclass(frozen=True)
class Response:
    """What a provider answered: the status and the body."""

    status_code: int
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Connection:
    """One HTTP/1.1 connection: writes a request, reads the response (``Content-Length``,
    chunked, or until close). ``http.client`` parses response headers with the e-mail
    package, which cost a worker more CPU per SMS than the rest of the send."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def _line(self) -> bytes:
        line = self.reader.readline(MAX_LINE + 1)
        if not line:
            raise http.client.RemoteDisconnected("the server closed the connection")
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("response line")
        return line

    def exchange(self, request: bytes) -> tuple[Response, bool]:
        """Sends ``request``; returns the response and whether the connection may be kept."""
        self.sock.sendall(request)
        status_line = self._line()
        while True:
            version, _, rest = status_line.partition(b" ")
            if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
                raise http.client.BadStatusLine(status_line.decode("latin-1").strip())
            status = int(rest[:3])
            headers: dict[bytes, bytes] = {}
            for _ in range(MAX_HEADERS):
                line = self._line()
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            else:
                raise http.client.HTTPException("too many response headers")
            if status != 100:
                break
            status_line = self._line()  # "100 Continue": the real answer follows
        keep = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = self._chunked()
        elif b"content-length" in headers:
            length = int(headers[b"content-length"])
            body = self.reader.read(length)
            if len(body) < length:
                raise http.client.IncompleteRead(body, length - len(body))
        elif status in (204, 304):
            body = b""
        else:
            body, keep = self.reader.read(), False
        return Response(status, body), keep

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.reader.read(size))
            self.reader.read(2)


MAX_LINE = 65536
MAX_HEADERS = 100


class KeptConnections:
    """One keep-alive connection per calling thread to one origin (``http``/``https``).

    A kept connection the server has closed while it was idle (readable before we wrote:
    EOF) is replaced before the request; a request is never sent twice here — a failure after
    it was written is the caller's to judge (the idempotency key travels with it)."""

    def __init__(
        self, base_url: str, *, timeout: float, connect_timeout: float | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default_port = 443 if self.tls else 80
        self.authority = self.host if self.port == default_port else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            bracketed = f"[{self.host}]"
            self.authority = bracketed if self.port == default_port else f"{bracketed}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self._local = threading.local()
        self._all: set[_Connection] = set()
        self._lock = threading.Lock()

    def _open(self) -> _Connection:
        sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        connection = _Connection(sock)
        with self._lock:
            self._all.add(connection)
        return connection

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        with self._lock:
            self._all.discard(connection)
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None

    def _connection(self) -> _Connection:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                stale = bool(select.select([connection.sock], [], [], 0)[0])
            except (OSError, ValueError):
                stale = True
            if stale:  # closed by the server while idle (or stray bytes): start afresh
                self._drop(connection)
                connection = None
        if connection is None:
            connection = self._open()
            self._local.connection = connection
        return connection

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """POSTs ``body``; raises ``TimeoutError`` or another ``OSError``/``HTTPException``."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if head.count("\n") != len(headers) or head.count("\r") != len(headers):
            raise http.client.HTTPException("a header value holds a line break")
        request = (
            f"POST {self.prefix + path} HTTP/1.1\r\nHost: {self.authority}\r\n"
            f"{head}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        connection = self._connection()
        try:
            response, keep = connection.exchange(request)
        except BaseException:
            self._drop(connection)  # unknown state: the next request opens a new one
            raise
        if not keep:
            self._drop(connection)
        return response

    def close(self) -> None:
        with self._lock:
            connections, self._all = list(self._all), set()
        for connection in connections:
            connection.close()


class HttpAdapter:
    """Shared plumbing: the connections, timeouts, error mapping."""

    name = "http"

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connections = KeptConnections(
            self.base_url, timeout=timeout, connect_timeout=connect_timeout
        )
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        }

    def close(self) -> None:
        self.connections.close()

    def _post(self, path: str, body: dict[str, Any], message: OutgoingMessage) -> Response:
        headers = {**self.headers, "Idempotency-Key": message.idempotency_key}
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            return self.connections.post(path, payload, headers)
        except TimeoutError as exc:  # socket.timeout is TimeoutError
            raise TransientSendError(
                f"{self.name}: tempo esgotado ({type(exc).__name__})", provider=self.name
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransientSendError(
                f"{self.name}: falha de conexão: {exc or type(exc).__name__}", provider=self.name
            ) from exc

    def _transient_status(self, response: Response) -> None:
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise TransientSendError(
                f"{self.name}: HTTP {status}: {response.text[:300]}",
                provider=self.name,
                code=str(status),
            )
        if status in (401, 403):
            raise TransientSendError(
                f"{self.name}: HTTP {status} (credenciais recusadas: verifique o canal)",
                provider=self.name,
                code=str(status),
            )

    @staticmethod
    def _json(response: Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


class GenericHttpAdapter(HttpAdapter):
    """A generic JSON provider: ``POST {base}/messages {to, text, idempotency_key, …}``.

    Success: 2xx ``{"id": "..."}``; a 409 whose body carries the ``id`` is a duplicate of a
    message already accepted with the same idempotency key, and counts as sent. Errors:
    ``{"error": {"code": "invalid_recipient" | …, "message": "..."}}``.
    """

    name = "generic_http"
    INVALID_RECIPIENT = frozenset({"invalid_recipient", "invalid_number", "invalid_address"})

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        channel: Channel = Channel.SMS,
        unicode: bool = False,
        sender: str | None = None,
        **kwargs: Any,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        super().__init__(base_url=base_url, headers=headers, **kwargs)
        self.channel = channel
        self.unicode = unicode
        self.sender = sender

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        text = message.text
        if message.channel is Channel.SMS:
            text, _info = prepare(text, unicode=self.unicode)
        body: dict[str, Any] = {
            "to": message.to,
            "text": text,
            "idempotency_key": message.idempotency_key,
            "channel": message.channel.value,
        }
        if self.sender:
            body["from"] = self.sender
        if message.subject:
            body["subject"] = message.subject
        if message.template_params:
            body["template"] = message.metadata.get("whatsapp_template_name", message.template)
            body["params"] = list(message.template_params)
        return body

    def send(self, message: OutgoingMessage) -> SendResult:
        response = self._post("/messages", self.body(message), message)
        data = self._json(response)
        if response.is_success or (response.status_code == 409 and data.get("id")):
            return SendResult(self.name, str(data.get("id") or message.idempotency_key))
        self._transient_status(response)
        error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
        code = str(error.get("code") or response.status_code)
        raise PermanentSendError(
            f"{self.name}: HTTP {response.status_code} {code}: {error.get('message', '')}".strip(),
            provider=self.name,
            code=code,
            address_invalid=code in self.INVALID_RECIPIENT,
        )


class WhatsAppCloudAdapter(HttpAdapter):
    """Meta WhatsApp Cloud API: approved template messages with ordered body parameters.

    ``POST {base}/{version}/{phone_number_id}/messages`` with a bearer token and
    ``{"messaging_product": "whatsapp", "to", "type": "template", "template": {"name",
    "language": {"code": "pt_BR"}, "components": [{"type": "body", "parameters": [{"type":
    "text", "text"}…]}]}}``; the reply's ``messages[0].id`` (``wamid…``) is the provider id.
    Errors are ``{"error": {"code", "message", "error_subcode"…}}`` (Graph API).
    """

    name = "whatsapp_cloud"
    # Recipient problems: 131026 message undeliverable (not a WhatsApp user / old app),
    # 131030 recipient not in the allowed list (test numbers), 131021 recipient = sender.
    INVALID_RECIPIENT = frozenset({131026, 131030, 131021})
    # Throttling and platform trouble: retry later.
    TRANSIENT = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
    # Token expired / permissions: an operator must fix the channel; keep the message.
    CONFIG = frozenset({10, 190, 200, 131005, 131031})

    def __init__(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        base_url: str = "https://graph.facebook.com",
        api_version: str = "v21.0",
        default_language: str = "pt_BR",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            base_url=base_url, headers={"Authorization": f"Bearer {access_token}"}, **kwargs
        )
        self.path = f"/{api_version}/{phone_number_id}/messages"
        self.default_language = default_language

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        name = message.metadata.get("whatsapp_template_name") or message.template
        language = message.metadata.get("whatsapp_language") or self.default_language
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _digits(message.to),
            "type": "template",
            "template": {"name": name, "language": {"code": language}},
            "biz_opaque_callback_data": message.idempotency_key[:512],
        }
        if message.template_params:
            body["template"]["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in message.template_params],
                }
            ]
        return body

    def send(self, message: OutgoingMessage) -> SendResult:
        response = self._post(self.path, self.body(message), message)
        data = self._json(response)
        if response.is_success:
            messages = data.get("messages") or [{}]
            return SendResult(self.name, str(messages[0].get("id") or message.idempotency_key))
        error: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
        try:
            code = int(error.get("code", 0))
        except (TypeError, ValueError):
            code = 0
        text = f"{self.name}: HTTP {response.status_code} erro {code}: {error.get('message', '')}"
        if code in self.TRANSIENT or code in self.CONFIG:
            raise TransientSendError(text, provider=self.name, code=str(code))
        self._transient_status(response)
        raise PermanentSendError(
            text,
            provider=self.name,
            code=str(code or response.status_code),
            address_invalid=code in self.INVALID_RECIPIENT,
        )


class ZenviaSmsAdapter(HttpAdapter):
    """Zenvia API v2, SMS channel (Brazilian provider).

    ``POST {base}/v2/channels/sms/messages`` with header ``X-API-TOKEN`` and
    ``{"from": <sender alias>, "to": <number with country code, digits>, "contents": [{"type":
    "text", "text", "encodingStrategy"}]}``; the reply's ``id`` is the provider id. Reference:
    https://zenvia.github.io/zenvia-openapi-spec/v2/ (repository zenvia/zenvia-openapi-spec:
    ``spec/code_samples/channels/sms-messages/sample.sh``, ``spec/components/schemas/message/
    base.ts`` and ``content/sms/text.ts`` for ``encodingStrategy``: ``MORE_CHARACTERS_PER_MESSAGE``
    = GSM-7, ``MORE_CHARACTER_SUPPORT`` = UCS-2). The v2 message schema has no client-reference
    field, so the idempotency key goes only in the ``Idempotency-Key`` header: a retry inside the
    provider-call window can still duplicate (DESIGN §4.3 accepts that window). Errors are
    ``{"code", "message", "details": [{"code", "path", "message"}]}``; a detail on ``to``
    means the number is invalid.
    """

    name = "zenvia"

    def __init__(
        self,
        *,
        token: str,
        sender: str,
        base_url: str = "https://api.zenvia.com",
        unicode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url=base_url, headers={"X-API-TOKEN": token}, **kwargs)
        self.sender = sender
        self.unicode = unicode

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        text, _info = prepare(message.text, unicode=self.unicode)
        return {
            "from": self.sender,
            "to": _digits(message.to),
            "contents": [
                {
                    "type": "text",
                    "text": text,
                    "encodingStrategy": "MORE_CHARACTER_SUPPORT"
                    if self.unicode
                    else "MORE_CHARACTERS_PER_MESSAGE",
                }
            ],
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        response = self._post("/v2/channels/sms/messages", self.body(message), message)
        data = self._json(response)
        if response.is_success:
            return SendResult(self.name, str(data.get("id") or message.idempotency_key))
        self._transient_status(response)
        details: list[Any] = data["details"] if isinstance(data.get("details"), list) else []
        about_recipient = any(
            isinstance(d, dict) and str(d.get("path", "")).split(".")[0] == "to" for d in details
        )
        raise PermanentSendError(
            f"{self.name}: HTTP {response.status_code} {data.get('code', '')}: "
            f"{data.get('message', '')}",
            provider=self.name,
            code=str(data.get("code") or response.status_code),
            address_invalid=about_recipient,
        )
