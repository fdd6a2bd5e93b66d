"""A sandbox whose market makers never move (so "nothing changed" is true), the official SDK on
it, and a scripted Parsec for payloads the sandbox never sends."""

from __future__ import annotations

import pytest

from tests.sandbox_client import start_sandbox, stop_sandbox
from tests.scripted_parsec import scripted_parsec


@pytest.fixture(scope="session")
def still_sandbox(tmp_path_factory):
    """Quotes move once every ~30 years of simulated time: prices hold still between syncs."""
    proc = start_sandbox(tmp_path_factory.mktemp("still-sandbox"), extra_env={"SANDBOX_MM_STEP_SECONDS": str(10**9)})
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def sync_settings(settings, still_sandbox):
    settings.PARSEC_API_BASE_URL = still_sandbox.base_url
    settings.PARSEC_API_KEY = still_sandbox.builder_key
    settings.PARSEC_SANDBOX_ADMIN_KEY = still_sandbox.admin_key
    return settings


@pytest.fixture(scope="session")
def sdk(still_sandbox):
    return still_sandbox.sdk()


@pytest.fixture
def parsec_server():
    """A scripted Parsec (tests/scripted_parsec.py): for payloads the sandbox would never send."""
    with scripted_parsec() as server:
        yield server
