"""The Celery app and the whole beat schedule, in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat entries are added by each app's issue; intervals come from settings so an
# operator can tune them without a deploy. See backoffice/schedule.py.
app.conf.beat_schedule = {}


@app.on_after_finalize.connect
def _install_schedule(sender, **kwargs):
    from backoffice.schedule import beat_schedule

    sender.conf.beat_schedule = beat_schedule()
