"""The one beat scheduler: ``celery beat`` once the process holds the schedule's lock.

On PostgreSQL the lock is a session advisory lock held for the life of this process, so a second
``run_beat`` (another host, a deploy overlapping the old one) waits as a standby and takes over
when the first dies, instead of sending every periodic task twice. On SQLite (the embedded shape,
one machine, one ``run_product``) there is nothing to share and beat starts at once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

BEAT_LOCK_KEY = 0x5A_0B_EA_71


class Command(BaseCommand):
    help = "Run celery beat, at most one per database (a standby waits for the lock)."

    def add_arguments(self, parser):
        parser.add_argument("--standby-seconds", type=float, default=10.0, help="how often a standby tries the lock")

    def handle(self, *args, **options):
        if connection.vendor == "postgresql":
            self._wait_for_lock(options["standby_seconds"])
        beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "backoffice", "beat", "--loglevel", "INFO",
                                 "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME])
        signal.signal(signal.SIGTERM, lambda *_: beat.terminate())
        try:
            return_code = beat.wait()
        except KeyboardInterrupt:
            beat.terminate()
            return_code = beat.wait()
        if return_code:
            sys.exit(return_code)

    def _wait_for_lock(self, every: float) -> None:
        # The connection stays open (and the lock held) until this process exits.
        connection.ensure_connection()
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
                if cursor.fetchone()[0]:
                    self.stdout.write("Holding the beat lock: this is the scheduler.")
                    return
            self.stdout.write(f"Another beat holds the lock; standing by (trying again in {every:g} s).")
            time.sleep(every)
