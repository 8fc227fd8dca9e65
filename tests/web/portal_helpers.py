"""Shared by the portal tests: a debtor's login through a message link, and form tokens."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from adimple.web.portal.links import make_portal_token

BIRTH = date(1980, 1, 31)
CPF = "52998224725"
OTHER_CPF = "11144477735"


def today() -> date:
    # The portal's "today" is the creditor's (São Paulo), not UTC's: they differ from 21:00.
    return datetime.now(ZoneInfo("America/Sao_Paulo")).date()


def link_for(customer_id: Any, seed: str = "m1", **kw: Any) -> str:
    issued = kw.pop("issued_at", datetime.now(UTC))
    return "/portal/l/" + make_portal_token(customer_id, seed, issued_at=issued, **kw)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def login(client: TestClient, customer: Any, *, seed: str = "m1") -> None:
    response = client.get(link_for(customer.id, seed))
    assert response.status_code == 303 and response.headers["location"] == "/portal/entrar"
    form = client.get("/portal/entrar")
    assert form.status_code == 200
    done = client.post(
        "/portal/entrar",
        data={
            "documento": customer.document,
            "nascimento": "31/01/1980",
            "csrf": csrf_of(form.text),
        },
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal/dividas"
