"""Demo data for the embedded default: staff personas and a first sync from Parsec.

Idempotent: staff users are created once (their generated passwords kept, for this machine's demo
only, in ``var/demo-credentials.json``, which ``run_product`` lists at the end of its start-up), and
the sync upserts. The demo end-users, markets and wallets themselves live in the sandbox
(its seed); the back-office learns them the way it learns production data, by syncing.
"""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from compliance.surveillance import run_surveillance
from core.roles import COMPLIANCE, OPERATIONS

PERSONAS = [("operator", OPERATIONS), ("operator2", OPERATIONS), ("compliance", COMPLIANCE)]


def credentials_file():
    return settings.VAR_DIR / "demo-credentials.json"


def demo_credentials() -> dict[str, str]:
    """The demo accounts' generated passwords on this machine (username → password)."""
    try:
        return json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}


def remember_credentials(username: str, password: str) -> None:
    """Keep a generated demo password where only this machine's user can read it (never in production:
    ``run_product`` and ``seed_demo`` are the embedded demo's commands)."""
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    known = {**demo_credentials(), username: password}
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(known, indent=2, sort_keys=True))


class Command(BaseCommand):
    help = "Create demo staff personas and sync the demo end-users, markets and activity from Parsec."

    def add_arguments(self, parser):
        parser.add_argument("--no-sync", action="store_true")

    def handle(self, *args, **opts):
        user_model = get_user_model()
        for username, role in PERSONAS:
            if user_model.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_user(username=username, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            remember_credentials(username, password)
            self.stdout.write(f"  created the demo {role} user {username!r} (its password is listed when the product is up)")
        if not opts["no_sync"]:
            call_command("sync_parsec", "--all")
            # The rules also run after each customer's sync (a worker) and on the beat; running them
            # once here means compliance finds the demo's alerts as soon as the product is up.
            result = run_surveillance()
            self.stdout.write(f"  surveillance: {result.raised} alerts raised ({', '.join(f'{k} {v}' for k, v in sorted(result.per_rule.items()))})")
