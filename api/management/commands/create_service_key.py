from django.core.management.base import BaseCommand, CommandError

from accounts.errors import BillingError
from api.service_keys import service_key_create


class Command(BaseCommand):
    help = "Create an API service key. The key is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What uses it, e.g. proxy-production.")

    def handle(self, *args, name, **options):
        try:
            key, raw_key = service_key_create(name=name)
        except BillingError as exc:
            raise CommandError(exc.detail) from exc
        self.stderr.write(
            f"Service key {key.name!r} created (prefix {key.prefix}). Only its hash is stored: "
            "copy it now. Send it as 'Authorization: Bearer <key>'. Revoke it in the admin."
        )
        self.stdout.write(raw_key)
