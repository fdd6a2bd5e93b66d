#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["parsec_sandbox"]:
        # The sandbox is its own process with its own settings: it must not load the
        # back-office's apps, middleware or database.
        os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
