"""Verify the audit log: every row against the keyed chain, then the log against the checkpoints
kept outside the database. Exit 1 naming what happened: ALTERED (a row changed in place),
RECHAINED (rows rewritten and re-hashed), GAP (rows missing in the middle), CUT (the newest rows
gone), WIPED (no rows left), CHECKPOINT (the checkpoint file itself was tampered with). A clean
run writes a new checkpoint."""

from django.core.management.base import BaseCommand, CommandError

from audit import checkpoints
from audit.chain import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's keyed hash chain and compare it with the checkpoints kept outside the database."

    def handle(self, *args, **options):
        checked, broken = verify_chain()
        if broken is None:
            broken = checkpoints.compare()
        if broken is not None:
            where = {
                "ALTERED": f"at seq {broken.seq}", "RECHAINED": f"from seq {broken.seq}", "GAP": f"at seq {broken.seq}",
                "CUT": f"after seq {broken.seq}", "WIPED": "", "CHECKPOINT": "",
            }[broken.kind]
            row = f" (id {broken.pk})" if broken.pk is not None else ""
            raise CommandError(
                f"Audit log {broken.kind}{' ' + where if where else ''}{row}: {broken.problem}. "
                f"The chain is broken at seq {broken.seq}; {checked} row(s) before it verified.",
                returncode=1,
            )
        checkpoint = checkpoints.write(reason="verify")
        self.stdout.write(self.style.SUCCESS(
            f"Audit log intact: {checked} event(s) verified against the chain key and the checkpoints; "
            f"checkpoint written at seq {checkpoint.seq}."
        ))
