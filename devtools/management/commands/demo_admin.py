import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or reset the local admin login 'admin' and print its password (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="", help="Default: a new random password.")

    def handle(self, *args, username, password, **options):
        if not settings.DEBUG:
            raise CommandError(
                "demo_admin resets a password and prints it: it only runs with DEBUG=true. "
                "In production use `manage.py createsuperuser`."
            )
        password = password or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Admin login: {username} / {password}  (at /admin/)")
