"""README command 1: `manage.py run_product` starts the sandbox, the web server, a worker and
the scheduler with demo data, and Ctrl-C stops all of it."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.sandbox_client import ROOT, free_port


def _embedded_env(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "SANDBOX_DATABASE_URL", "CELERY_BROKER_URL", "RATE_LIMIT_REDIS_URL",
                          "PARSEC_API_BASE_URL", "PARSEC_SANDBOX_ADMIN_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update({
        "BACKOFFICE_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SUPERUSER_USERNAME": "boss",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-demo-password",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _as_a_background_job() -> None:
    """What a non-interactive shell does to a command it starts with ``&`` (and what a CI runner or
    an xdist worker may pass down): SIGINT ignored. Ctrl-C must stop the product all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _kill_leftovers(process: subprocess.Popen, output: str) -> None:
    """A failed run must not leave the product running: its children live in sessions of their own."""
    for pid in {int(pid) for pid in re.findall(r"Started \w+ \(pid (\d+)\)", output)} | {process.pid}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_run_product_serves_everything_with_demo_data_and_stops_on_ctrl_c(tmp_path):
    web_port, sandbox_port = free_port(), free_port()
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_product", "--port", str(web_port), "--sandbox-port", str(sandbox_port), "--concurrency", "1"],
        cwd=ROOT, env=_embedded_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_as_a_background_job,
    )
    try:
        deadline = time.monotonic() + 240
        output = ""
        while "The back-office is running" not in output:
            assert process.poll() is None, output
            assert time.monotonic() < deadline, output
            time.sleep(1)
            output = (tmp_path / "run.log").read_text()
        assert "placed 51 demo orders" in output and "surveillance: " in output
        # One closing block, after the worker's banner: every persona with its password, the control-plane key.
        time.sleep(1)
        output = (tmp_path / "run.log").read_text()
        block = output[output.index("The back-office is running"):]
        assert output.index(" ready.") < output.index("The back-office is running"), output
        assert output.index("beat: Starting...") < output.index("The back-office is running"), output
        assert re.search(r"^    boss +from DJANGO_SUPERUSER_PASSWORD  \(Administrator\)$", block, re.M), block
        passwords = {}
        for name in ("operator", "operator2", "compliance"):
            found = re.search(rf"^    {name} +(\S+)  \((Operations|Compliance)\)$", block, re.M)
            assert found, block
            passwords[name] = found.group(1)
        assert re.search(r"Sandbox control plane: http://127\.0\.0\.1:\d+/_sandbox/  key \S{20,}", block), block

        session = requests.Session()
        login = session.get(f"http://127.0.0.1:{web_port}/admin/login/", timeout=10)
        assert login.status_code == 200
        token = session.cookies["csrftoken"]
        index = session.post(f"http://127.0.0.1:{web_port}/admin/login/?next=/admin/", timeout=30, data={
            "username": "boss", "password": "a-long-demo-password", "csrfmiddlewaretoken": token, "next": "/admin/",
        }, headers={"Referer": f"http://127.0.0.1:{web_port}/admin/login/"})
        assert index.status_code == 200 and "Operations dashboard" in index.text
        # The listed persona password signs in, and a sign-in without ?next= lands on the dashboard.
        persona = requests.Session()
        persona.get(f"http://127.0.0.1:{web_port}/admin/login/", timeout=10)
        landed = persona.post(f"http://127.0.0.1:{web_port}/admin/login/", timeout=30, data={
            "username": "operator", "password": passwords["operator"], "csrfmiddlewaretoken": persona.cookies["csrftoken"],
        }, headers={"Referer": f"http://127.0.0.1:{web_port}/admin/login/"})
        assert landed.status_code == 200 and landed.url.endswith("/admin/") and "Operations dashboard" in landed.text
        customers = session.get(f"http://127.0.0.1:{web_port}/admin/customers/customer/", timeout=30)
        assert "demo-alice" in customers.text
        assert requests.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/health", timeout=5).ok

        # The scheduler is a watched child of its own: killed, it is started again.
        [beat_pid] = re.findall(r"Started beat \(pid (\d+)\)", output)
        os.killpg(int(beat_pid), signal.SIGKILL)
        restarted = None
        while restarted is None:
            assert process.poll() is None, output
            assert time.monotonic() < deadline + 120, output
            time.sleep(1)
            output = (tmp_path / "run.log").read_text()
            pids = re.findall(r"Started beat \(pid (\d+)\)", output)
            restarted = pids[1] if len(pids) > 1 else None
        assert f"beat (pid {beat_pid}) exited with status -9; restarting it in 1 s (restart 1 of 5)." in output
        os.kill(int(restarted), 0)  # the new beat runs
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _kill_leftovers(process, (tmp_path / "run.log").read_text())
            raise AssertionError("run_product did not stop within 60 s of Ctrl-C") from None
    for port in (web_port, sandbox_port):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except requests.ConnectionError:
            pass


def _supervised(tmp_path, script: str, **options):
    import io

    from backoffice.management.commands.run_product import Supervisor

    out, err = io.StringIO(), io.StringIO()
    supervisor = Supervisor(out, err, backoff=0, **options)
    supervisor.spawn("child", [sys.executable, "-c", script], dict(os.environ))
    return supervisor, out, err


def test_a_child_that_dies_is_started_again(tmp_path):
    marker = tmp_path / "died-once"
    script = (f"import pathlib, sys, time; m = pathlib.Path({str(marker)!r})\n"
              "if m.exists(): time.sleep(120)\nelse: m.touch(); sys.exit(3)")
    supervisor, _, err = _supervised(tmp_path, script, max_restarts=3)
    first = supervisor.children[0].process.pid
    try:
        deadline = time.monotonic() + 60
        while supervisor.children[0].process.pid == first or supervisor.children[0].restart_at is not None:
            assert time.monotonic() < deadline, err.getvalue()
            supervisor.check()
            time.sleep(0.1)
        assert f"child (pid {first}) exited with status 3; restarting it in 0 s (restart 1 of 3)." in err.getvalue()
        assert supervisor.children[0].process.poll() is None
    finally:
        supervisor.stop_all()


def test_a_child_that_keeps_dying_stops_everything_loudly(tmp_path):
    from django.core.management.base import CommandError

    supervisor, out, _ = _supervised(tmp_path, "import sys; sys.exit(3)", max_restarts=2)
    deadline = time.monotonic() + 60
    try:
        with pytest.raises(CommandError, match=r"child exited with status 3 after 2 restart\(s\) and keeps dying; "
                                               r"stopping everything\."):
            while time.monotonic() < deadline:
                supervisor.check()
                time.sleep(0.1)
        assert out.getvalue().count("Started child") == 3
    finally:
        supervisor.stop_all()
