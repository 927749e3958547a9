from django.apps import AppConfig


class ApiConfig(AppConfig):
    """What every endpoint shares: service keys, authentication, the JSON error handler."""

    name = "api"
    verbose_name = "API access"
