"""django-axes' reset commands, on record: an unlock from the command line is audited like one
from the admin (``staff.unlock``), naming the shell user who ran it and what was reset.

Django finds a command in the first installed app that has it; ``backoffice`` comes before
``axes``, so ``manage.py axes_reset_username bob`` runs the audited subclass below."""

from __future__ import annotations

import getpass
import io

from audit.services import record_action

# Only what names a lockout goes into the record (the options also hold Django's own flags).
RECORDED_OPTIONS = ("username", "ip", "ip_address", "usernames", "ips")


def audited(axes_command: type) -> type:
    class Command(axes_command):
        help = f"{axes_command.help} (audited as staff.unlock)"

        def handle(self, *args, **options):
            out, self.stdout._out = self.stdout._out, io.StringIO()
            try:
                super().handle(*args, **options)
                said = self.stdout._out.getvalue().strip()
            finally:
                self.stdout._out = out
            self.stdout.write(said)
            name = axes_command.__module__.rsplit(".", 1)[-1]
            record_action(actor=f"cli:{getpass.getuser()}", action="staff.unlock", outcome="ok",
                          reason=f"Unlocked from the command line ({name}): {said}",
                          request={"command": name, **{k: options[k] for k in RECORDED_OPTIONS if options.get(k)}})

    return Command
