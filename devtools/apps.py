from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools (the Stripe stand-in, demo data): never installed in production."""

    name = "devtools"
    verbose_name = "Development tools"
