from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _install_sql_functions(sender, using, **kwargs):
    from usage.services import install_session_start_function

    install_session_start_function(connections[using])


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self):
        # After every `migrate` (and the tests' schema): the session start's SQL function is
        # made from the code that calls it, so the two never disagree.
        post_migrate.connect(_install_sql_functions, sender=self)
