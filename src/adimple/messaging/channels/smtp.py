"""E-mail over SMTP (stdlib ``smtplib``): STARTTLS or implicit TLS, AUTH, text + HTML parts.

One connection per sending thread, kept open across messages (``RSET`` before each one after
the first): the handshake (connect, EHLO, STARTTLS, AUTH) was most of an e-mail's cost. The
connection lives in a ``threading.local``, so one adapter still serves any number of
dispatcher threads. A kept connection that fails its ``RSET`` (the server closed it while
idle) is replaced before anything is sent; any error during a send drops the connection, and
the next message opens a new one. :meth:`SmtpAdapter.disconnect` ends the calling thread's.

The outbox idempotency key becomes the ``Message-ID`` (``<key@domain>``, the key
percent-encoded where RFC 5322 ``dot-atom-text`` forbids a character), so a retry after a crash
is recognisable downstream. ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 2369,
RFC 8058 one-click) come from the renderer in ``message.headers``.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Literal
from urllib.parse import quote

from adimple.messaging.channels.base import (
    DEFAULT_TIMEOUT_SECONDS,
    OutgoingMessage,
    PermanentSendError,
    SendResult,
    TransientSendError,
)

Security = Literal["starttls", "ssl", "none"]
_ATEXT_SAFE = "!#$&'*+-/=?^_`{|}~."  # RFC 5322 atext besides letters and digits ('%' escapes)


def message_id_for(idempotency_key: str, domain: str) -> str:
    """``<key@domain>`` with the key percent-encoded outside RFC 5322 atext."""
    local = quote(idempotency_key, safe=_ATEXT_SAFE).strip(".").replace("..", ".%2E")
    return f"<{local}@{domain}>"


class SmtpAdapter:
    """Sends e-mail through one SMTP server (``security``: starttls, ssl or none)."""

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        from_address: str,
        port: int | None = None,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        from_name: str | None = None,
        reply_to: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError("security must be starttls, ssl or none")
        self.host = host
        self.port = port or {"starttls": 587, "ssl": 465, "none": 25}[security]
        self.security = security
        self.username = username
        self.password = password
        self.from_address = from_address
        self.from_name = from_name
        self.reply_to = reply_to
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname
        self.domain = from_address.rsplit("@", 1)[-1]
        self._local = threading.local()

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message: text/plain and text/html alternatives, attachments, headers."""
        email = EmailMessage()
        email["From"] = (
            formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address
        )
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = message_id_for(message.idempotency_key, self.domain)
        if self.reply_to:
            email["Reply-To"] = self.reply_to
        for name, value in message.headers.items():
            if name.lower() not in ("from", "to", "subject", "message-id", "date"):
                email[name] = value
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        for filename, mime, content in message.attachments:
            maintype, _, subtype = mime.partition("/")
            email.add_attachment(
                content, maintype=maintype, subtype=subtype or "octet-stream", filename=filename
            )
        return email

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self.ssl_context,
                local_hostname=self.local_hostname,
            )
        return smtplib.SMTP(
            self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
        )

    def _open(self) -> smtplib.SMTP:
        smtp = self._connect()
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _session(self) -> smtplib.SMTP:
        """This thread's open connection, ready for a message (opened or reset here)."""
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        if smtp is not None:
            try:
                smtp.rset()  # nothing of this message was sent yet: safe to reconnect
                return smtp
            except (smtplib.SMTPException, OSError):
                self.disconnect()
        smtp = self._open()
        self._local.smtp = smtp
        return smtp

    def disconnect(self) -> None:
        """Ends the calling thread's connection (QUIT), if it has one."""
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            Address(addr_spec=message.to)
        except (ValueError, IndexError) as exc:
            raise PermanentSendError(
                f"endereço de e-mail inválido: {message.to!r}", provider=self.name
            ) from exc
        email = self.build(message)
        try:
            smtp = self._session()
            try:
                smtp.send_message(email, from_addr=self.from_address, to_addrs=[message.to])
            except smtplib.SMTPResponseException:
                raise  # the server answered (smtplib reset the transaction): keep it
            except smtplib.SMTPRecipientsRefused:
                raise  # likewise
            except BaseException:
                self.disconnect()  # unknown state: the next message opens a new connection
                raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            text = f"SMTP {code} para {message.to}: {_decode(reply)}"
            if 500 <= code < 600:
                raise PermanentSendError(text, provider=self.name, code=str(code)) from exc
            raise TransientSendError(text, provider=self.name, code=str(code)) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise TransientSendError(
                f"credenciais SMTP recusadas ({exc.smtp_code}): verifique a configuração do canal",
                provider=self.name,
                code=str(exc.smtp_code),
            ) from exc
        except smtplib.SMTPDataError as exc:
            text = f"SMTP {exc.smtp_code} ao enviar a mensagem: {_decode(exc.smtp_error)}"
            if 500 <= exc.smtp_code < 600:
                # Content refused (policy, size): the address may be fine.
                raise PermanentSendError(
                    text, provider=self.name, code=str(exc.smtp_code), address_invalid=False
                ) from exc
            raise TransientSendError(text, provider=self.name, code=str(exc.smtp_code)) from exc
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(
                f"SMTP {exc.smtp_code}: {_decode(exc.smtp_error)}",
                provider=self.name,
                code=str(exc.smtp_code),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # timeouts, refused, TLS, disconnects
            raise TransientSendError(
                f"SMTP {self.host}:{self.port} indisponível: {exc}", provider=self.name
            ) from exc
        return SendResult(self.name, str(email["Message-ID"]))


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
