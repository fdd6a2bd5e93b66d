"""SyncRun moves here from customers with its table (customers_syncrun) and rows: state only."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('customers', '0003_exchangelink_sync_digests'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='SyncRun',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('kind', models.CharField(choices=[('users', 'End-users'), ('orders', 'Orders'), ('fills', 'Fills'), ('positions', 'Positions'), ('balances', 'Balances'), ('markets', 'Markets'), ('customer-full', 'Customer (full)'), ('schedule', 'Schedule fan-out')], max_length=16)),
                    ('exchange', models.CharField(blank=True, choices=[('polymarket', 'Polymarket'), ('kalshi', 'Kalshi'), ('limitless', 'Limitless'), ('opinion', 'Opinion'), ('predictfun', 'Predict.fun')], max_length=16)),
                    ('trigger', models.CharField(choices=[('beat', 'Schedule'), ('on-demand', 'On demand'), ('command', 'Management command')], default='beat', max_length=16)),
                    ('task_id', models.CharField(blank=True, max_length=64)),
                    ('status', models.CharField(choices=[('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('partial', 'Partial')], default='running', max_length=16)),
                    ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ('calls_made', models.PositiveIntegerField(default=0)),
                    ('rows_created', models.PositiveIntegerField(default=0)),
                    ('rows_updated', models.PositiveIntegerField(default=0)),
                    ('rows_unchanged', models.PositiveIntegerField(default=0)),
                    ('errors', models.JSONField(blank=True, default=list)),
                    ('progress_done', models.PositiveIntegerField(default=0)),
                    ('progress_total', models.PositiveIntegerField(blank=True, null=True)),
                    ('customer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='sync_runs', to='customers.customer')),
                    ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'customers_syncrun',
                    'ordering': ['-started_at', '-id'],
                    'get_latest_by': 'started_at',
                    'indexes': [models.Index(fields=['kind', '-started_at'], name='syncrun_kind_idx'), models.Index(fields=['customer', '-started_at'], name='syncrun_customer_idx'), models.Index(fields=['status', '-started_at'], name='syncrun_status_idx')],
                    'constraints': [models.CheckConstraint(condition=models.Q(('progress_total__isnull', True), ('progress_done__lte', models.F('progress_total')), _connector='OR'), name='syncrun_progress_within_total'), models.CheckConstraint(condition=models.Q(('finished_at__isnull', True), ('finished_at__gte', models.F('started_at')), _connector='OR'), name='syncrun_finishes_after_start')],
                },
            ),
            ],
            database_operations=[],
        ),
    ]
