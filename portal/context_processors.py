from email.utils import parseaddr

from django.conf import settings

from accounts.services.sign_in import return_url_or_none
from portal.sign_in import RETURN_URL_SESSION_KEY


def support(request) -> dict:
    """The address customers write to about billing: the sender of our e-mails."""
    return {"support_email": parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}


def return_url(request) -> dict:
    """Where "Back to dashboard" leads: the portal session's `return_url`, checked again."""
    url = request.session.get(RETURN_URL_SESSION_KEY, "") if hasattr(request, "session") else ""
    return {"return_url": return_url_or_none(url) if url else None}
