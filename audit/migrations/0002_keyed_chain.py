"""The chain becomes keyed (HMAC under AUDIT_CHAIN_KEY) and inserts only append.

Existing rows keep their unkeyed SHA-256 hashes: rewriting them would erase the very history they
prove. Instead the first keyed row is an ``audit.chain_keyed`` event naming the old head (seq and
hash), and a checkpoint of it is written outside the database: the old rows cannot be changed
without breaking that keyed row's link, and ``verify_audit_log`` checks them with the old hash up
to it and with the key from it on. A new database has no old rows and gets no such event.
"""

from django.db import migrations


def install_triggers(apps, schema_editor):
    from audit import triggers

    if schema_editor.connection.vendor in ("sqlite", "postgresql"):
        triggers.install(schema_editor.connection)


def key_the_chain(apps, schema_editor):
    if schema_editor.connection.alias != "default":
        return
    from audit import checkpoints
    from audit.chain import KEYED_ACTION, head
    from audit.models import AuditEvent
    from audit.services import record_action

    seq, hash_ = head()
    if seq == 0 or AuditEvent.objects.filter(action=KEYED_ACTION).exists():
        return
    record_action(
        actor=None, action=KEYED_ACTION, outcome="ok",
        reason="From this row on the chain is keyed (HMAC-SHA256 under AUDIT_CHAIN_KEY); rows before it keep "
               "their unkeyed SHA-256 and are pinned by this row's link to the old head.",
        request={"legacy_head_seq": seq, "legacy_head_hash": hash_, "scheme": "hmac-sha256"},
    )
    checkpoints.write(reason="chain keyed")


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
        ("compliance", "0003_auditevent_moved_to_audit"),
    ]

    operations = [
        migrations.RunPython(install_triggers, migrations.RunPython.noop),
        migrations.RunPython(key_the_chain, migrations.RunPython.noop),
    ]
