"""Every test leaves the session's sandbox as it found it.

One sandbox process serves a whole test session (tests/conftest.py) and pytest-xdist runs the
tests of several modules, in any order, against it. A fault rule left behind, the rate-limit
switch, the builder's pool or escrow config, or a clock moved forward by one test changes what
the next test sees. So the shared state is read before and after each test that uses the
session's sandbox, and the test that left it changed fails (at teardown), not whichever test
happens to run next. Fault rules are created and deleted by id (``fault``); a test that
moves the clock, which only goes forward, uses a sandbox of its own (``own_sandbox``).
"""

from __future__ import annotations

import pytest

from tests.sandbox_client import start_sandbox, stop_sandbox


def shared_state(sandbox) -> dict:
    client = sandbox.sdk()
    pool = client.builder.with_raw_response.pool().http_response.json()
    return {
        "faults": sandbox.control("GET", "faults").json()["faults"],
        "limits": sandbox.control("GET", "limits").json(),
        "clock_offset_seconds": sandbox.control("GET", "clock").json()["offset_seconds"],
        "qps_pool": pool["qps_pool"],
        "escrow_config": client.builder.escrow.with_raw_response.config().http_response.json(),
    }


@pytest.fixture(autouse=True)
def shared_sandbox_state_is_restored(request):
    if "sandbox" not in request.fixturenames:
        yield
        return
    sandbox = request.getfixturevalue("sandbox")
    before = shared_state(sandbox)
    yield
    after = shared_state(sandbox)
    changed = sorted(key for key in before if before[key] != after[key])
    assert not changed, f"the test left the shared sandbox changed: {({key: (before[key], after[key]) for key in changed})}"


@pytest.fixture
def fault(sandbox):
    """``add(**rule) -> rule``: a fault rule on the session's sandbox, deleted by its id afterwards."""
    created: list[int] = []

    def add(**rule) -> dict:
        body = sandbox.control("POST", "faults", json=rule).json()
        created.append(body["id"])
        return body

    yield add
    for rule_id in created:
        sandbox.control("DELETE", f"faults/{rule_id}")


@pytest.fixture(scope="module")
def own_sandbox(tmp_path_factory):
    """A sandbox process for one module, for tests that move its clock."""
    proc = start_sandbox(tmp_path_factory.mktemp("own-sandbox"))
    yield proc
    stop_sandbox(proc)
