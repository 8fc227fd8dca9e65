"""E-mail over SMTP (stdlib ``smtplib``): STARTTLS or implicit TLS, AUTH, text + HTML parts.

One connection per sending thread, kept open across messages (``RSET`` before each one after
the first): the handshake (connect, EHLO, STARTTLS, AUTH) was most of an e-mail's cost. A server
that offers PIPELINING (RFC 2920) gets ``RSET``, ``MAIL``, ``RCPT`` and ``DATA`` in one write
and the content in a second: two round trips per message instead of five; the content is only
sent once ``DATA`` was answered 354, so a refusal never delivers anything. The MIME message
(text/plain and text/html alternatives, UTF-8, 7bit or quoted-printable) is written directly
as bytes (:func:`mime_bytes`): the ``email`` package's builder and generator cost more CPU
than everything else a worker does for an e-mail. Messages with attachments, non-ASCII
addresses or headers still go through ``email.message.EmailMessage``. The
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

import base64
import binascii
import secrets
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


def _encoded_words(text: str) -> str:
    """RFC 2047 ``=?utf-8?b?…?=`` words of at most 75 characters, folded, for a header value
    that is not ASCII (whole characters per word)."""
    words: list[str] = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode()) > 45:  # 45 bytes → 60 base64 characters
            words.append(chunk)
            chunk = ""
        chunk += ch
    if chunk or not words:
        words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode()).decode()}?=" for w in words)


def _header_value(text: str) -> str:
    text = " ".join(text.split())  # no line breaks in a header (no injection)
    return text if text.isascii() else _encoded_words(text)


def _part(content: str, subtype: str) -> bytes:
    """One text part, UTF-8: 7bit when it is ASCII with short lines, else quoted-printable
    (never 8bit: it needs the server's 8BITMIME, and QP is as cheap here — ``binascii``)."""
    data = content.replace("\r\n", "\n").replace("\r", "\n")
    if not data.endswith("\n"):
        data += "\n"
    raw = data.encode()
    if data.isascii() and max(map(len, raw.split(b"\n"))) <= 78:
        cte = "7bit"
        body = raw
    else:
        cte = "quoted-printable"
        body = binascii.b2a_qp(raw)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    return head.encode() + b"\r\n" + body.replace(b"\n", b"\r\n")


def mime_bytes(headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    """A MIME message: ``headers`` (ASCII), then text/plain alone or with text/html as
    multipart/alternative."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers) + "MIME-Version: 1.0\r\n"
    plain = _part(text, "plain")
    if html is None:
        return head.encode() + plain
    rich = _part(html, "html")
    boundary = f"=_adimple_{secrets.token_hex(12)}"
    marker = boundary.encode()
    while marker in plain or marker in rich:  # practically never
        boundary = f"=_adimple_{secrets.token_hex(12)}"
        marker = boundary.encode()
    head += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    return (
        head.encode()
        + b"--"
        + marker
        + b"\r\n"
        + plain
        + b"\r\n--"
        + marker
        + b"\r\n"
        + rich
        + b"\r\n--"
        + marker
        + b"--\r\n"
    )


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
        self._from_header = (
            formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address
        )

    def _fast_headers(self, message: OutgoingMessage) -> list[tuple[str, str]] | None:
        """The headers of :meth:`build`, written directly (None: leave it to the ``email``
        package — attachments, or an address or header that is not plain ASCII)."""
        if message.attachments or not message.to.isascii() or not self._from_header.isascii():
            return None
        headers = [
            ("From", self._from_header),
            ("To", message.to),
            ("Subject", _header_value(message.subject or "")),
            ("Date", formatdate(localtime=False)),
            ("Message-ID", message_id_for(message.idempotency_key, self.domain)),
        ]
        if self.reply_to:
            if not self.reply_to.isascii():
                return None
            headers.append(("Reply-To", self.reply_to))
        for name, value in message.headers.items():
            if name.lower() in ("from", "to", "subject", "message-id", "date"):
                continue
            if not (name.isascii() and value.isascii()) or "\n" in value or "\r" in value:
                return None
            headers.append((name, value))
        return headers

    def payload(self, message: OutgoingMessage) -> tuple[bytes, str]:
        """The message as sent (bytes) and its Message-ID."""
        headers = self._fast_headers(message)
        if headers is None:
            email = self.build(message)
            return email.as_bytes(policy=email.policy.clone(linesep="\r\n")), str(
                email["Message-ID"]
            )
        return mime_bytes(headers, message.text, message.html or None), headers[4][1]

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

    def _pipelined_send(self, smtp: smtplib.SMTP, to: str, data: bytes, *, fresh: bool) -> None:
        """RSET, MAIL, RCPT and DATA in one write; the content only after DATA's 354.

        A kept connection that turns out closed (no answer to RSET) is replaced once: nothing
        of this message was accepted yet. Errors are smtplib's, as ``sendmail`` raises them.
        """
        commands = f"RSET\r\nMAIL FROM:<{self.from_address}>\r\nRCPT TO:<{to}>\r\nDATA\r\n"
        try:
            smtp.send(commands)
            reset = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            if fresh:
                raise
            self.disconnect()
            smtp = self._open()
            self._local.smtp = smtp
            smtp.send(commands)
            reset = smtp.getreply()
        mail, rcpt, start = smtp.getreply(), smtp.getreply(), smtp.getreply()
        if start[0] == 354 and (reset[0] != 250 or mail[0] != 250 or rcpt[0] not in (250, 251)):
            # The server took DATA although something before it failed (RFC 2920 says it must
            # not): drop the connection without a content, so nothing is delivered.
            self.disconnect()
            raise smtplib.SMTPResponseException(start[0], b"DATA accepted after a refusal")
        if reset[0] != 250:
            raise smtplib.SMTPResponseException(*reset)
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], self.from_address)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: rcpt})
        if start[0] != 354:
            raise smtplib.SMTPDataError(*start)
        body = smtplib._quote_periods(data)  # type: ignore[attr-defined]
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        code, reply = smtp.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

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
        data, message_id = self.payload(message)
        try:
            kept: smtplib.SMTP | None = getattr(self._local, "smtp", None)
            smtp = kept if kept is not None else self._session()
            try:
                if smtp.has_extn("pipelining"):
                    self._pipelined_send(smtp, message.to, data, fresh=kept is None)
                else:
                    if kept is not None:
                        smtp = self._session()  # RSET, or a new connection
                    smtp.sendmail(self.from_address, [message.to], data)
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
        return SendResult(self.name, message_id)


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
