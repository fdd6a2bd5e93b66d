"""Recompute the audit log's hash chain; exit 1 at the first broken row."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Recompute every audit event's hash in order and report the first row that breaks the chain."

    def handle(self, *args, **options):
        checked, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"Audit log broken at seq {broken.seq} (id {broken.pk}): {broken.problem}. "
                f"{checked} row(s) before it verified.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {checked} event(s) verified."))
