"""Set up and run the whole product: sandbox, web, worker and scheduler, with demo data.

Each of the four is a child process of this one, and watched: a child that dies is restarted
after a back-off; one that keeps dying stops everything with a clear message (``Supervisor``).

This is README command 1 (``make run``). It is safe to run again: migrations and the
demo seed are idempotent, and a second copy refuses to start on ports already taken.
Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from backoffice.management.commands.seed_demo import PERSONAS, demo_credentials, remember_credentials

ROOT = Path(settings.BASE_DIR)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_http(url: str, seconds: float, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL we built)
                if response.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


class Command(BaseCommand):
    help = "Run the sandbox, the web server, a Celery worker and the beat scheduler, with demo data."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--sandbox-port", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=42, help="sandbox seed (markets and demo customers)")
        parser.add_argument("--no-sandbox", action="store_true", help="use PARSEC_API_BASE_URL as it is")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--max-restarts", type=int, default=5,
                            help="restarts of a child that keeps dying before everything stops")

    def handle(self, *args, **opts):
        self.supervisor = Supervisor(self.stdout, self.stderr, max_restarts=opts["max_restarts"])
        # Ctrl-C (and SIGTERM) stop everything, also when the shell that started us ignored SIGINT
        # (a non-interactive shell does so for a command started with `&`; Python keeps it ignored).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        try:
            self._run(opts)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    # -- steps ----------------------------------------------------------------

    def _run(self, opts):
        host, port = opts["host"], opts["port"]
        if not _port_free(host, port):
            raise CommandError(f"Port {port} on {host} is taken: is the back-office already running? (use --port)")

        self.stdout.write("Migrating the back-office database…")
        call_command("migrate", interactive=False, verbosity=0)
        username, password = self._ensure_superuser()

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not opts["no_sandbox"] and not settings.PARSEC_SANDBOX_ADMIN_KEY:
            # One control-plane key shared by the sandbox and the back-office processes,
            # so escrow records can be read and demo wallets can sign for rehearsals.
            key = secrets.token_urlsafe(24)
            env["PARSEC_SANDBOX_ADMIN_KEY"] = os.environ["PARSEC_SANDBOX_ADMIN_KEY"] = key
            settings.PARSEC_SANDBOX_ADMIN_KEY = key
        sandbox_url = settings.PARSEC_API_BASE_URL
        if not opts["no_sandbox"]:
            sandbox_port = opts["sandbox_port"]
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            if _port_free("127.0.0.1", sandbox_port):
                sandbox = self._spawn(
                    "sandbox",
                    [sys.executable, "manage.py", "parsec_sandbox", "--port", str(sandbox_port), "--seed", str(opts["seed"]), "--demo-activity"],
                    env,
                )
                if not _wait_http(f"{sandbox_url}/_sandbox/health", 90, sandbox):
                    raise CommandError("The Parsec sandbox did not start; see its output above.")
            elif urlparse(settings.PARSEC_API_BASE_URL).port == sandbox_port:
                self.stdout.write(f"A Parsec sandbox already answers on port {sandbox_port}; using it.")
            else:
                raise CommandError(f"Port {sandbox_port} is taken by something else (use --sandbox-port).")
            env["PARSEC_API_BASE_URL"] = sandbox_url
            os.environ["PARSEC_API_BASE_URL"] = sandbox_url
            settings.PARSEC_API_BASE_URL = sandbox_url

        self.stdout.write("Seeding demo data (idempotent)…")
        call_command("seed_demo")

        self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--loglevel", "INFO",
             "--concurrency", str(opts["concurrency"])],
            env,
        )
        # The scheduler is a child of its own, so that it is watched (and restarted) like the others.
        self._spawn("beat", [sys.executable, "manage.py", "run_beat"], env)
        web = self._spawn(
            "web",
            [sys.executable, "-m", "waitress", "--listen", f"{host}:{port}", "--threads", "8", "backoffice.wsgi:application"],
            env,
        )
        if not _wait_http(f"http://{host}:{port}/admin/login/", 60, web):
            raise CommandError("The web server did not start; see its output above.")
        # The sign-in block comes last, after the worker's and the scheduler's banners, so it is what
        # the terminal shows.
        for name in ("worker", "beat"):
            self.supervisor.wait_ready(name, seconds=60)
        self.supervisor.write_block(self._ready_block(host, port, sandbox_url, username, password,
                                                      sandbox=not opts["no_sandbox"]))
        while True:
            self.supervisor.check()
            time.sleep(1)

    def _ready_block(self, host, port, sandbox_url, username, password, *, sandbox: bool) -> str:
        """One block at the end of the start-up: where to go, every persona and its password, the
        sandbox's control-plane key."""
        known = demo_credentials()
        accounts = [(username, "Administrator", password or known.get(username)
                     or ("from DJANGO_SUPERUSER_PASSWORD" if os.environ.get("DJANGO_SUPERUSER_PASSWORD") else None))]
        accounts += [(name, role, known.get(name)) for name, role in PERSONAS]
        width = max(len(name) for name, _, _ in accounts)
        lines = ["", "=" * 72, f"The back-office is running: http://{host}:{port}/admin/", f"  Parsec endpoint: {sandbox_url}",
                 "  Sign in as:"]
        for name, role, secret in accounts:
            shown = secret or f"unknown here: set one with `manage.py changepassword {name}`"
            lines.append(f"    {name:<{width}}  {shown}  ({role})")
        if sandbox:
            lines.append(f"  Sandbox control plane: {sandbox_url}/_sandbox/  key {settings.PARSEC_SANDBOX_ADMIN_KEY}")
        lines += ["  Ctrl-C stops the sandbox, the web server, the worker and the scheduler.", "=" * 72, ""]
        return "\n".join(lines)

    def _ensure_superuser(self) -> tuple[str, str | None]:
        """The admin account: from the environment, or generated (and kept for the closing block)."""
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        env_password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        user = user_model.objects.filter(username=username).first()
        if user is None:
            password = env_password or secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            if not env_password:
                remember_credentials(username, password)
            return username, (None if env_password else password)
        if env_password and not user.check_password(env_password):
            user.set_password(env_password)
            user.save(update_fields=["password"])
        return username, None

    # -- process supervision ------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        return self.supervisor.spawn(name, argv, env)

    def _stop_all(self):
        self.supervisor.stop_all()


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict
    process: subprocess.Popen
    started: float
    restarts: int = 0
    restart_at: float | None = None


class Supervisor:
    """Watches the children: one that exits is started again after a back-off (1 s, 2 s, 4 s …
    up to ``backoff_max``); one that dies ``max_restarts`` times in a row, each time within
    ``stable_seconds`` of its start, stops everything, loudly. A child that stayed up that long
    starts counting afresh."""

    def __init__(self, stdout, stderr, *, max_restarts: int = 5, backoff: float = 1.0, backoff_max: float = 30.0,
                 stable_seconds: float = 300.0):
        self.stdout, self.stderr = stdout, stderr
        self.max_restarts, self.backoff, self.backoff_max, self.stable_seconds = max_restarts, backoff, backoff_max, stable_seconds
        self.children: list[Child] = []
        self.ready: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # A line a child prints once its banner is out and it serves.
    READY_MARKERS = {"worker": " ready.", "beat": "beat: Starting..."}

    def wait_ready(self, name: str, *, seconds: float) -> bool:
        event = self.ready.get(name)
        return event.wait(seconds) if event else False

    def write_block(self, text: str) -> None:
        with self._lock:
            self.stdout.write(text)

    def _relay(self, name: str, stream) -> None:
        """Copy a child's output to ours line by line (so lines never interleave), noting when it is ready."""
        marker = self.READY_MARKERS.get(name)
        for line in iter(stream.readline, ""):
            with self._lock:
                self.stdout.write(line.rstrip("\n"))
            if marker and marker in line:
                self.ready.setdefault(name, threading.Event()).set()
        stream.close()

    def spawn(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        process = self._start(name, argv, env)
        self.children.append(Child(name, argv, env, process, time.monotonic()))
        return process

    def _start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        self.ready.setdefault(name, threading.Event())
        process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
        threading.Thread(target=self._relay, args=(name, process.stdout), daemon=True, name=f"relay-{name}").start()
        self.write_block(f"Started {name} (pid {process.pid}): {' '.join(argv[1:4])}…")
        return process

    def check(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.process, child.started, child.restart_at = self._start(child.name, child.argv, child.env), now, None
                continue
            code = child.process.poll()
            if code is None:
                continue
            if now - child.started >= self.stable_seconds:
                child.restarts = 0
            if child.restarts >= self.max_restarts:
                raise CommandError(f"{child.name} exited with status {code} after {child.restarts} restart(s) and keeps "
                                   "dying; stopping everything.")
            delay = min(self.backoff * 2 ** child.restarts, self.backoff_max)
            child.restarts += 1
            child.restart_at = now + delay
            self.stderr.write(f"{child.name} (pid {child.process.pid}) exited with status {code}; restarting it in "
                              f"{delay:g} s (restart {child.restarts} of {self.max_restarts}).")

    def stop_all(self) -> None:
        running = [c.process for c in reversed(self.children) if c.restart_at is None and c.process.poll() is None]
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
