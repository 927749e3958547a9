from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The customers' pages: sign-in, usage, pricing, the return from Checkout."""

    name = "portal"
    verbose_name = "Customer portal"
