"""Fixtures of the portal tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adimple.web.app import create_app


@pytest.fixture
def client(session_maker: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app()
    app.state.session_factory = session_maker
    with TestClient(app, follow_redirects=False) as c:
        yield c
