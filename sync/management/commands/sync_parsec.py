"""python manage.py sync_parsec [--customer ID ...] [--users] [--markets] [--all]

Runs the same syncs as the beat, in this process, and prints each run's record.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from customers.filters import customer_match
from customers.models import Customer
from sync import steps
from sync.models import SyncRun
from sync.report import start_run


class Command(BaseCommand):
    help = "Sync the mirror from Parsec now: end-users, markets, one or every customer."

    def add_arguments(self, parser):
        parser.add_argument("--customer", action="append", default=[], help="pk, Parsec customer id or external id (repeatable)")
        parser.add_argument("--exchange", default=None, help="only this exchange for --customer")
        parser.add_argument("--users", action="store_true", help="the builder users list (customers, wallets, links)")
        parser.add_argument("--markets", action="store_true", help="the market catalogue")
        parser.add_argument("--all", action="store_true", help="users, markets, then every active customer")

    def handle(self, *args, **options):
        if not (options["customer"] or options["users"] or options["markets"] or options["all"]):
            raise CommandError("say what to sync: --customer ID, --users, --markets or --all")
        customers = [self._customer(ref) for ref in options["customer"]]
        runs = []
        if options["users"] or options["all"]:
            runs.append(steps.sync_users(run=start_run(kind=SyncRun.Kind.USERS, trigger=SyncRun.Trigger.COMMAND)))
            self._print(runs[-1])
        if options["markets"] or options["all"]:
            runs.append(steps.sync_markets(run=start_run(kind=SyncRun.Kind.MARKETS, trigger=SyncRun.Trigger.COMMAND)))
            self._print(runs[-1])
        if options["all"]:
            customers += list(Customer.objects.filter(status=Customer.Status.ACTIVE).order_by("pk"))
        for customer in customers:
            run = start_run(kind=SyncRun.Kind.CUSTOMER_FULL, customer=customer, exchange=options["exchange"] or "", trigger=SyncRun.Trigger.COMMAND)
            runs.append(steps.sync_customer(run=run, exchange=options["exchange"]))
            self._print(runs[-1])
        failed = [r for r in runs if r.status == SyncRun.Status.FAILED]
        if failed:
            raise CommandError(f"{len(failed)} of {len(runs)} runs failed (see the sync runs in the admin)")

    def _customer(self, ref: str) -> Customer:
        found = Customer.objects.filter(customer_match(ref)).first()
        if found is None:
            raise CommandError(f"no customer {ref!r} in the mirror (run --users first?)")
        return found

    def _print(self, run: SyncRun) -> None:
        scope = f" {run.customer}" if run.customer_id else ""
        self.stdout.write(
            f"{run.get_kind_display()}{scope}: {run.status} in {run.duration.total_seconds():.2f}s, {run.calls_made} calls, "
            f"{run.rows_created} created, {run.rows_updated} updated, {run.rows_unchanged} unchanged, {len(run.errors)} errors"
        )
        for error in run.errors:
            self.stderr.write(f"  {error['step']}: {error['error']}")
