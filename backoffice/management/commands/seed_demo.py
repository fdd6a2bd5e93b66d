"""Demo data for the embedded default: staff personas and a first sync from Parsec.

Idempotent: staff users are created once (their passwords printed that once), and the
sync upserts. The demo end-users, markets and wallets themselves live in the sandbox
(its seed); the back-office learns them the way it learns production data, by syncing.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand

from compliance.surveillance import run_surveillance
from core.roles import COMPLIANCE, OPERATIONS

PERSONAS = [("operator", OPERATIONS), ("operator2", OPERATIONS), ("compliance", COMPLIANCE)]


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
            self.stdout.write(f"  demo {role} user {username!r} / {password!r} (printed once)")
        if not opts["no_sync"]:
            call_command("sync_parsec", "--all")
            # The rules also run after each customer's sync (a worker) and on the beat; running them
            # once here means compliance finds the demo's alerts as soon as the product is up.
            result = run_surveillance()
            self.stdout.write(f"  surveillance: {result.raised} alerts raised ({', '.join(f'{k} {v}' for k, v in sorted(result.per_rule.items()))})")
