from django.db import migrations

from accounts.catalogue import catalogue_seed


def seed(apps, schema_editor):
    catalogue_seed(apps.get_model("billing", "Plan"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
