from email.utils import parseaddr

from django.conf import settings


def support(request) -> dict:
    """The address customers write to about billing: the sender of our e-mails."""
    return {"support_email": parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}
