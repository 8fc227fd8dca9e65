"""E-mail adapter against a real local aiosmtpd server: both parts, Message-ID = idempotency
key, List-Unsubscribe (RFC 8058), STARTTLS/SMTPS/AUTH, and how SMTP failures are classified."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from adimple.messaging.channels.base import (
    OutgoingMessage,
    PermanentSendError,
    TransientSendError,
)
from adimple.messaging.channels.smtp import SmtpAdapter, message_id_for
from adimple.messaging.testing import free_port, running_smtp_server
from adimple.portfolio.models import Channel

MESSAGE = OutgoingMessage(
    idempotency_key="2026-11-23:c42:d21:email",
    channel=Channel.EMAIL,
    to="maria.silva@example.com",
    subject="Loja Exemplo: pagamento em aberto",
    text="Olá, Maria! Total: R$\xa0256,67. Cancelar: http://x/optout/abc",
    html="<p>Olá, Maria! Total: <strong>R$\xa0256,67</strong></p>",
    template="aviso_atraso",
    headers={
        "List-Unsubscribe": "<http://127.0.0.1:8000/optout/abc.def>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
)


def _adapter(server, **kwargs) -> SmtpAdapter:  # type: ignore[no-untyped-def]
    options = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from_address": "cobranca@lojaexemplo.com.br",
        "from_name": "Loja Exemplo",
        "timeout": 5,
    }
    options.update(kwargs)
    return SmtpAdapter(**options)


class TestDelivery:
    def test_the_message_arrives_with_both_parts_and_the_headers(self) -> None:
        with running_smtp_server() as server:
            result = _adapter(server).send(MESSAGE)
            [received] = server.wait_for(1)
        email = received.message
        assert received.rcpt_tos == ["maria.silva@example.com"]
        assert received.mail_from == "cobranca@lojaexemplo.com.br"
        assert email.get_content_type() == "multipart/alternative"
        text = email.get_body(("plain",))
        html = email.get_body(("html",))
        assert text is not None and "R$\xa0256,67" in text.get_content()
        assert html is not None and "<strong>" in html.get_content()
        assert email["Subject"] == "Loja Exemplo: pagamento em aberto"
        assert email["From"] == "Loja Exemplo <cobranca@lojaexemplo.com.br>"
        expected_id = "<2026-11-23%3Ac42%3Ad21%3Aemail@lojaexemplo.com.br>"
        assert email["Message-ID"] == expected_id == result.provider_message_id
        assert email["List-Unsubscribe"] == "<http://127.0.0.1:8000/optout/abc.def>"
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def test_accents_long_lines_and_dots_survive_the_direct_mime(self) -> None:
        html = "<p>" + "Cobrança de dívida à vista " * 20 + "</p>\n.\n..linha com ponto"
        message = dataclasses.replace(
            MESSAGE,
            subject="Açaí & Cia: " + ", ".join(["cobrança em aberto, não é spam"] * 4),
            text="Olá!\n.\n" + "x" * 200,
            html=html,
        )
        with running_smtp_server() as server:
            _adapter(server).send(message)
            [received] = server.wait_for(1)
        email = received.message
        assert email["Subject"] == message.subject
        text, rich = email.get_body(("plain",)), email.get_body(("html",))
        # As received on the wire (CRLF line ends).
        assert text is not None and text.get_content() == (message.text + "\n").replace(
            "\n", "\r\n"
        )
        assert rich is not None and rich.get_content() == (html + "\n").replace("\n", "\r\n")
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def test_message_id_is_stable_and_valid(self) -> None:
        assert message_id_for("a b:c/d", "x.com") == "<a%20b%3Ac/d@x.com>"
        assert message_id_for("simple-key.1", "x.com") == "<simple-key.1@x.com>"

    def test_attachments_travel(self) -> None:
        with running_smtp_server() as server:
            _adapter(server).send(
                dataclasses.replace(
                    MESSAGE, attachments=[("boleto.pdf", "application/pdf", b"%PDF-1.7 x")]
                )
            )
            [received] = server.wait_for(1)
        [attachment] = list(received.message.iter_attachments())
        assert attachment.get_filename() == "boleto.pdf"
        assert attachment.get_content() == b"%PDF-1.7 x"

    def test_starttls_and_auth(self) -> None:
        with running_smtp_server(users={"cobranca": "s3nha"}, starttls=True) as server:
            adapter = _adapter(
                server,
                security="starttls",
                username="cobranca",
                password="s3nha",
                ssl_context=server.client_tls,
            )
            adapter.send(MESSAGE)
            [received] = server.wait_for(1)
        assert received.tls and received.authenticated_as == "cobranca"

    def test_implicit_tls(self) -> None:
        with running_smtp_server(implicit_tls=True) as server:
            _adapter(server, security="ssl", ssl_context=server.client_tls).send(MESSAGE)
            assert len(server.wait_for(1)) == 1


class TestFailures:
    def test_a_5xx_on_the_recipient_is_permanent_and_blames_the_address(self) -> None:
        reply = "550 5.1.1 <maria.silva@example.com>: mailbox unavailable"
        with running_smtp_server(reject={MESSAGE.to: reply}) as server:
            with pytest.raises(PermanentSendError) as error:
                _adapter(server).send(MESSAGE)
            assert server.messages == []
        assert error.value.address_invalid and error.value.code == "550"

    def test_a_4xx_on_the_recipient_is_transient(self) -> None:
        reply = "450 4.2.1 try again later"
        with (
            running_smtp_server(reject={MESSAGE.to: reply}) as server,
            pytest.raises(TransientSendError) as error,
        ):
            _adapter(server).send(MESSAGE)
        assert error.value.code == "450"

    def test_wrong_credentials_are_transient_not_the_debtors_fault(self) -> None:
        with running_smtp_server(users={"cobranca": "s3nha"}, starttls=True) as server:
            adapter = _adapter(
                server,
                security="starttls",
                username="cobranca",
                password="errada",
                ssl_context=server.client_tls,
            )
            with pytest.raises(TransientSendError, match="credenciais"):
                adapter.send(MESSAGE)

    def test_no_server_is_transient(self) -> None:
        adapter = SmtpAdapter(
            host="127.0.0.1",
            port=free_port(),
            security="none",
            from_address="cobranca@lojaexemplo.com.br",
            timeout=2,
        )
        with pytest.raises(TransientSendError):
            adapter.send(MESSAGE)

    def test_a_malformed_address_is_permanent(self) -> None:
        adapter = SmtpAdapter(host="127.0.0.1", port=1, from_address="a@b.com")
        with pytest.raises(PermanentSendError):
            adapter.send(dataclasses.replace(MESSAGE, to="not an address"))


class TestKeptConnection:
    @pytest.mark.parametrize("pipelining", [True, False])
    def test_one_connection_carries_many_messages(self, pipelining: bool) -> None:
        with running_smtp_server(pipelining=pipelining) as server:
            adapter = _adapter(server)
            for n in range(3):
                adapter.send(dataclasses.replace(MESSAGE, idempotency_key=f"k{n}"))
            received = server.wait_for(3)
            adapter.disconnect()
        assert len({r.peer for r in received}) == 1

    @pytest.mark.parametrize("pipelining", [True, False])
    def test_a_dropped_connection_is_replaced_before_sending(self, pipelining: bool) -> None:
        with running_smtp_server(pipelining=pipelining) as server:
            adapter = _adapter(server)
            adapter.send(dataclasses.replace(MESSAGE, idempotency_key="before"))
            # The connection dies while idle (a server timeout, a NAT): the next send notices
            # at RSET, before anything of its message went out, and connects again.
            adapter._local.smtp.sock.shutdown(socket.SHUT_RDWR)
            adapter.send(dataclasses.replace(MESSAGE, idempotency_key="after"))
            received = server.wait_for(2)
            adapter.disconnect()
        assert [r.message["Message-ID"].split("@")[0] for r in received] == ["<before", "<after"]
        assert len({r.peer for r in received}) == 2

    def test_each_thread_has_its_own_connection(self) -> None:
        import threading

        with running_smtp_server() as server:
            adapter = _adapter(server)
            threads = [
                threading.Thread(
                    target=adapter.send,
                    args=(dataclasses.replace(MESSAGE, idempotency_key=f"t{n}"),),
                )
                for n in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            received = server.wait_for(2)
        assert len({r.peer for r in received}) == 2
