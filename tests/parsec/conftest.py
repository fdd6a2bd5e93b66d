"""The scripted Parsec (tests/scripted_parsec.py) and a gateway client pointed at it."""

from __future__ import annotations

import pytest

from tests.scripted_parsec import make_client, scripted_parsec


@pytest.fixture
def parsec_server():
    with scripted_parsec() as server:
        yield server


@pytest.fixture
def gateway(parsec_server, db):
    return make_client(parsec_server.url)
