"""Move the audit chain to a new key. Run it after deploying the new key as AUDIT_CHAIN_KEY with
the old one moved to AUDIT_CHAIN_PREVIOUS_KEYS (every process: until this runs, they all go on
writing under the old key). It verifies the chain and its checkpoints as they stand and refuses a
broken one, then appends the ``audit.key_rotated`` row under the new key (naming both key ids and
the old head) and writes a checkpoint signed with the new key."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from audit import checkpoints
from audit.services import AuditError, rotate_chain_key


class Command(BaseCommand):
    help = "Rotate the audit chain's key to AUDIT_CHAIN_KEY (the old key must be in AUDIT_CHAIN_PREVIOUS_KEYS)."

    def add_arguments(self, parser):
        parser.add_argument("--reason", required=True, help="why the key is replaced (kept in the audit row)")

    def handle(self, *args, **options):
        checked, broken = checkpoints.verify()
        if broken is not None:
            raise CommandError(f"Refusing to rotate the audit key: {broken.describe(checked)}", returncode=1)
        try:
            event = rotate_chain_key(actor=f"rotate_audit_key ({getpass.getuser()})", reason=options["reason"])
        except AuditError as exc:
            raise CommandError(f"Refusing to rotate the audit key: {exc}", returncode=1) from exc
        checkpoint = checkpoints.write(reason="key rotated")
        request = event.request
        self.stdout.write(self.style.SUCCESS(
            f"Audit key rotated: key id {request['old_key_id']} -> {request['new_key_id']} after head seq "
            f"{request['old_head_seq']}; rotation row seq {event.seq}; checkpoint written at seq {checkpoint.seq} "
            f"signed by key id {checkpoint.key_id}."
        ))
