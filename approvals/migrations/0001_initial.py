"""ApprovalRequest moves here from orders with its table (orders_approvalrequest) and rows: state only."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('orders', '0005_fill_fewer_indexes'),
        ('customers', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='ApprovalRequest',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('action', models.CharField(max_length=64)),
                    ('payload', models.JSONField(blank=True, default=dict)),
                    ('summary', models.CharField(blank=True, max_length=255)),
                    ('reason', models.TextField(blank=True, verbose_name='why')),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('expired', 'Expired'), ('withdrawn', 'Withdrawn')], db_index=True, default='pending', max_length=12)),
                    ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('expires_at', models.DateTimeField()),
                    ('decided_at', models.DateTimeField(blank=True, null=True)),
                    ('decision_note', models.TextField(blank=True)),
                    ('result', models.JSONField(blank=True, default=dict, help_text='What running the action returned.')),
                    ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='approval_requests', to='customers.customer')),
                    ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'orders_approvalrequest',
                    'ordering': ['-requested_at', '-id'],
                    'indexes': [models.Index(fields=['status', 'expires_at'], name='approval_pending_idx')],
                    'constraints': [models.CheckConstraint(condition=models.Q(('decided_by__isnull', True), models.Q(('decided_by', models.F('requested_by')), _negated=True), _connector='OR'), name='approval_not_by_maker'), models.CheckConstraint(condition=models.Q(('expires_at__gt', models.F('requested_at'))), name='approval_expires_after_request')],
                    'permissions': [('approve_request', "Can approve another operator's request")],
                },
            ),
            ],
            database_operations=[],
        ),
    ]
