"""One-time sign-in links: minted for a customer, redeemed once.

A link's token is 256 random bits; only its SHA-256 digest is stored (like service keys: a
random token cannot be brute-forced, and the lookup stays one indexed query). Redeeming is one
conditional UPDATE (`used_at IS NULL AND expires_at > now`), so of two clicks at the same
moment exactly one signs in, on PostgreSQL and SQLite alike.

Links come from three places, each with its own lifetime:
- `POST /api/v1/portal-sessions` (the dashboard sends its user here): 10 minutes;
- the e-mail asked for on the sign-in page: 15 minutes;
- every other e-mail to a customer (usage, payment, migration): minted by the worker when it
  renders the e-mail, so each delivery attempt has its own link and a retried send revokes
  the links of the attempts before it (`sign_in_links_for_emails`).

A customer that has no login gets one on its first sign-in (no usable password). A link never
signs in a staff or inactive login.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks import task

from accounts.errors import InvalidInput
from accounts.models import Customer, EmailKind, EmailNotification, SignInLink, SignInPurpose

logger = logging.getLogger(__name__)

PORTAL_SESSION_TTL = timedelta(minutes=10)
SIGN_IN_EMAIL_TTL = timedelta(minutes=15)
NOTIFICATION_LINK_TTL = timedelta(hours=24)
TTL = {
    SignInPurpose.PORTAL_SESSION: PORTAL_SESSION_TTL,
    SignInPurpose.SIGN_IN_EMAIL: SIGN_IN_EMAIL_TTL,
    SignInPurpose.NOTIFICATION: NOTIFICATION_LINK_TTL,
}
# What `secrets.token_urlsafe(32)` makes; anything else is refused before any query.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
RETURN_URL_MAX_LENGTH = 2000


def sign_in_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("sign-in-link", args=[token])


@dataclass(frozen=True)
class MintedLink:
    url: str
    expires_at: datetime
    link: SignInLink


def sign_in_link_create(
    *, customer: Customer, purpose: str, return_url: str = "", notification=None
) -> MintedLink:
    """Mint a link for the customer; its URL (holding the token) is returned once."""
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + TTL[purpose]
    link = SignInLink.objects.create(
        customer=customer,
        digest=sign_in_digest(token),
        purpose=purpose,
        return_url=return_url,
        notification=notification,
        expires_at=expires_at,
    )
    return MintedLink(url=sign_in_url(token), expires_at=expires_at, link=link)


def sign_in_links_for_emails(rows: list[EmailNotification]) -> dict[int, str]:
    """One fresh link per outbox row about to be sent (row pk → URL), in two statements.

    Minted at send time, not when the e-mail was decided: the token never sits in the outbox,
    and the link's lifetime starts when the customer can first read it. A row sent again
    (after a temporary failure, or by staff) revokes the unused links of its earlier attempts,
    so at most one link per e-mail works at a time. The sign-in e-mail's link lasts 15
    minutes; the other e-mails' links a day."""
    if not rows:
        return {}
    now = timezone.now()
    SignInLink.objects.filter(
        notification__in=[row.pk for row in rows], used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    tokens = {row.pk: secrets.token_urlsafe(32) for row in rows}
    links = []
    for row in rows:
        purpose = (
            SignInPurpose.SIGN_IN_EMAIL
            if row.kind == EmailKind.SIGN_IN
            else SignInPurpose.NOTIFICATION
        )
        links.append(
            SignInLink(
                customer_id=row.customer_id,
                digest=sign_in_digest(tokens[row.pk]),
                purpose=purpose,
                notification_id=row.pk,
                expires_at=now + TTL[purpose],
            )
        )
    SignInLink.objects.bulk_create(links)
    return {pk: sign_in_url(token) for pk, token in tokens.items()}


def sign_in_link_peek(*, token: str) -> SignInLink | None:
    """The link if it would sign in now (unused, not expired), without using it."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    return (
        SignInLink.objects.select_related("customer")
        .filter(digest=sign_in_digest(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


class LinkRefused(Exception):
    """The link cannot sign in: unknown, used, expired, or for a login that links never
    sign in (staff, inactive)."""


def sign_in_link_redeem(*, token: str) -> tuple[SignInLink, object]:
    """Use the link once and return it with the login to sign in (made on first sign-in).

    Raises LinkRefused. The UPDATE that marks it used is the decision: two redeems of one
    token at once, on any database, give one login and one LinkRefused."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise LinkRefused("malformed")
    now = timezone.now()
    digest = sign_in_digest(token)
    with transaction.atomic():
        used = SignInLink.objects.filter(
            digest=digest, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not used:
            raise LinkRefused("unknown, used or expired")
        link = SignInLink.objects.get(digest=digest)
        user = customer_login_ensure(customer_id=link.customer_id)
    return link, user


def customer_login_ensure(*, customer_id: int):
    """The customer's login, created (no usable password) and linked on its first sign-in.

    Takes the customer's row lock, so two first sign-ins at once make one login. Raises
    LinkRefused for a staff or inactive login: a customer's link never signs those in."""
    # The lock first, the login after, in its own query: a join read with the lock would show a
    # login that a concurrent first sign-in created (and committed) while we waited as missing.
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    user = customer.user
    if user is None:
        user = _login_create(customer)
        customer.user = user
        customer.save(update_fields=["user", "updated_at"])
        logger.info("customer login created", extra={"customer": customer.external_id})
    if user.is_staff or user.is_superuser or not user.is_active:
        logger.warning(
            "sign-in link refused for a staff or inactive login",
            extra={"customer": customer.external_id},
        )
        raise LinkRefused("staff or inactive login")
    return user


def _login_create(customer: Customer):
    """A login named after the customer's user_id when that name is free, else `customer-<pk>`
    (never another account's name: the two would be confused)."""
    User = get_user_model()
    candidates = [f"customer-{customer.pk}"]
    if len(customer.external_id) <= 150:
        candidates.insert(0, customer.external_id)
    for username in candidates:
        try:
            with transaction.atomic():
                user = User(username=username, email=customer.email)
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            continue
    raise LinkRefused("no free username")  # customer-<pk> taken by someone else: staff fixes


# Spent and expired links are kept this long (who signed in how, for support), then deleted.
KEEP_SPENT_LINKS = timedelta(days=30)


def sign_in_links_purge(*, now: datetime | None = None) -> int:
    """Delete the links that expired more than KEEP_SPENT_LINKS ago; returns how many."""
    now = now or timezone.now()
    deleted, _ = SignInLink.objects.filter(expires_at__lt=now - KEEP_SPENT_LINKS).delete()
    return deleted


@task()
def purge_sign_in_links() -> dict:
    """Scheduled daily: `sign_in_links_purge` in a worker."""
    return {"deleted": sign_in_links_purge()}


# --- Where "Back to dashboard" may lead -------------------------------------------------------


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def allowed_return_origins() -> set[str]:
    origins = {settings.SITE_URL, *settings.PORTAL_RETURN_ORIGINS}
    return {origin for origin in map(_origin_or_none, origins) if origin}


def _origin_or_none(url: str) -> str | None:
    try:
        return _origin(url)
    except ValueError:
        return None


def return_url_clean(url: str) -> str:
    """`url` if "Back to dashboard" may lead there: an absolute http(s) URL on this site or on
    an origin of PORTAL_RETURN_ORIGINS, without credentials; a path on this site (`/…`) is made
    absolute. Raises InvalidInput otherwise (open redirects are refused)."""
    url = url.strip()
    refused = InvalidInput(
        "return_url must be a URL on this site or on an allowed origin (PORTAL_RETURN_ORIGINS).",
        field="return_url",
    )
    if not url:
        return ""
    if len(url) > RETURN_URL_MAX_LENGTH or any(ord(c) < 0x21 or c == "\\" for c in url):
        raise refused
    if url.startswith("/") and not url.startswith("//"):
        url = settings.SITE_URL.rstrip("/") + url
    try:
        parts = urlsplit(url)
        origin = _origin(url)
    except ValueError:
        raise refused from None
    if origin is None or parts.username is not None or parts.password is not None:
        raise refused
    if origin not in allowed_return_origins():
        raise refused
    return url


def return_url_or_none(url: str) -> str | None:
    """`return_url_clean` for display: None instead of an error."""
    try:
        return return_url_clean(url) or None
    except InvalidInput:
        return None
