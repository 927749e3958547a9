"""Getting in without a password: one-time links (from the dashboard's portal sessions and from
e-mails) and the sign-in e-mail asked for on the sign-in page. The links themselves are
`accounts/services/sign_in.py`."""

from __future__ import annotations

import hashlib
import logging

from axes.helpers import get_client_ip_address
from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from accounts.fields import InternationalEmailFormField
from accounts.models import SignInPurpose
from accounts.services.sign_in import (
    LinkRefused,
    return_url_or_none,
    sign_in_link_peek,
    sign_in_link_redeem,
)
from accounts.services.sign_in_email import sign_in_email_request

logger = logging.getLogger(__name__)

# The session key of "Back to dashboard" (validated again whenever it is shown).
RETURN_URL_SESSION_KEY = "portal_return_url"
# Sign-in e-mails asked for, per address and per client address, in a window.
EMAIL_REQUESTS_PER_ADDRESS = 3
EMAIL_REQUESTS_PER_IP = 20
EMAIL_REQUEST_WINDOW_SECONDS = 15 * 60
# A link signs in with the ordinary model backend (django-axes needs a request to authenticate,
# and a link is not a password).
BACKEND = "django.contrib.auth.backends.ModelBackend"


class EmailLinkForm(forms.Form):
    email = InternationalEmailFormField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class LoginView(auth_views.LoginView):
    """Django's password sign-in, with the e-mail-link form on the same page."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("email_form", EmailLinkForm(auto_id="id_link_%s"))
        return context


def _over_limit(kind: str, value: str, limit: int) -> bool:
    """Count one request for (kind, value) in the window; True past `limit`."""
    key = f"sign-in-email:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
    cache.add(key, 0, timeout=EMAIL_REQUEST_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.add(key, 1, timeout=EMAIL_REQUEST_WINDOW_SECONDS)
        count = 1
    return count > limit


@require_http_methods(["GET", "HEAD", "POST"])
def email_link_request(request: HttpRequest) -> HttpResponse:
    """Send a one-time sign-in link to the address on record. The answer is the same whether
    or not a customer uses the address; only the number of requests is limited (per address
    and per client), and past it the answer says so for every address alike. Opened as a page
    (the address bar after a refused form, reloaded), it goes to the sign-in page's form."""
    if request.method != "POST":
        return redirect("login")
    form = EmailLinkForm(request.POST, auto_id="id_link_%s")
    if not form.is_valid():
        context = {"form": AuthenticationForm(request), "email_form": form}
        return render(request, "registration/login.html", context, status=400)
    email = form.cleaned_data["email"]
    ip = get_client_ip_address(request) or ""  # the address django-axes counts too
    if _over_limit("ip", ip, EMAIL_REQUESTS_PER_IP) or _over_limit(
        "address", email.lower(), EMAIL_REQUESTS_PER_ADDRESS
    ):
        logger.warning("sign-in e-mail throttled")
        response = render(
            request,
            "registration/link_throttled.html",
            {"minutes": EMAIL_REQUEST_WINDOW_SECONDS // 60},
            status=429,
        )
        response["Retry-After"] = str(EMAIL_REQUEST_WINDOW_SECONDS)
        return response
    sign_in_email_request(email=email)
    return redirect("sign-in-email-sent")


@require_safe
def email_link_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/link_sent.html")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    """A one-time link. A portal session's link (the dashboard redirects the browser here)
    signs in at once. An e-mail's link asks for one click first: mail scanners open links to
    inspect them, and a GET that signed in would spend the link before its owner clicks."""
    link = sign_in_link_peek(token=token)
    if link is None:
        return _link_refused(request)
    if request.method == "HEAD" or (
        request.method == "GET" and link.purpose != SignInPurpose.PORTAL_SESSION
    ):
        return render(
            request, "registration/link_confirm.html", {"account": link.customer.external_id}
        )
    try:
        link, user = sign_in_link_redeem(token=token)
    except LinkRefused:
        return _link_refused(request)
    login(request, user, backend=BACKEND)  # a new session (no fixation), the old one ends
    return_url = return_url_or_none(link.return_url)
    if return_url:
        request.session[RETURN_URL_SESSION_KEY] = return_url
    return redirect(settings.LOGIN_REDIRECT_URL)


def _link_refused(request: HttpRequest) -> HttpResponse:
    """Used, expired, unknown, or a login links never sign in: one page for all."""
    return render(
        request,
        "registration/link_invalid.html",
        {"email_form": EmailLinkForm(auto_id="id_link_%s")},
        status=410,
    )
