"""The content types (and so staff permissions and admin history) follow the moved models.

Permissions hang off content types by id: renaming the `billing.customer` content type to
`accounts.customer` keeps every permission granted to staff and every admin log entry. On a
fresh database there is nothing to rename (content types are made after `migrate`).
"""

from django.db import migrations

MOVED = {
    "accounts": [
        "plan",
        "customer",
        "project",
        "migrationbatch",
        "planchange",
        "emailnotification",
    ],
    "api": ["servicekey"],
}


def follow(apps, schema_editor, *, reverse: bool = False):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for new_app, models in MOVED.items():
        source, target = (new_app, "billing") if reverse else ("billing", new_app)
        for model in models:
            if content_type.objects.using(db).filter(app_label=target, model=model).exists():
                continue  # already made by a later post_migrate: leave both as they are
            content_type.objects.using(db).filter(app_label=source, model=model).update(
                app_label=target
            )


def backwards(apps, schema_editor):
    follow(apps, schema_editor, reverse=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("api", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(follow, backwards)]
