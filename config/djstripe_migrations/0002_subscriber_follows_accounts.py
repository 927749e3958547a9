"""dj-stripe's `Customer.subscriber` follows our customer model from `billing` to `accounts`.

The model kept its table (`billing_customer`), so the database's foreign key already points at
the right table: only Django's picture of the field changes. On databases built before the move,
dj-stripe's own 0001 had recorded its dependency on `billing`; pointing the subscriber at
`accounts` there would make the history inconsistent, which is why this is a migration of its
own rather than a setting read by the squash.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("djstripe", "0001_squashed_0003_2_11"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="subscriber",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="djstripe_customers",
                        to=settings.DJSTRIPE_SUBSCRIBER_MODEL,
                    ),
                ),
            ],
        )
    ]
