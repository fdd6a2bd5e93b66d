"""ApprovalRequest now belongs to the approvals app (same table, same rows): state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0005_fill_fewer_indexes'),
        ('approvals', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='orderintent',
                    name='approval',
                    field=models.ForeignKey(blank=True, help_text='The four-eyes request, when the notional needed one.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='order_intents', to='approvals.approvalrequest'),
                ),
                migrations.DeleteModel(name='ApprovalRequest'),
            ],
            database_operations=[],
        ),
    ]
