"""E-mails to customers: rendered from templates, recorded once, sent after commit.

Every e-mail is keyed by (customer, kind, dedupe_key) in EmailNotification, so a rerun of
whatever decided to send it (a webhook replay, a cron run, a retried batch) never sends twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from billing.models import Customer, EmailNotification

logger = logging.getLogger(__name__)


def email_send_once(
    *, customer: Customer, kind: str, dedupe_key: str, context: dict | None = None
) -> EmailNotification | None:
    """Record and (after commit) send `kind` to the customer, unless already recorded.

    Templates: `emails/<kind>_subject.txt`, `emails/<kind>.txt` and `emails/<kind>.html`, each
    given `customer`, `site_url` and `context`. Returns None when it was sent before or the
    customer has no e-mail address.
    """
    if not customer.email:
        logger.warning("no e-mail address", extra={"customer": customer.external_id, "kind": kind})
        return None
    context = {"customer": customer, "site_url": settings.SITE_URL, **(context or {})}
    subject = " ".join(render_to_string(f"emails/{kind}_subject.txt", context).split())
    try:
        with transaction.atomic():
            notification = EmailNotification.objects.create(
                customer=customer,
                kind=kind,
                dedupe_key=dedupe_key,
                to_email=customer.email,
                subject=subject,
            )
    except IntegrityError:
        return None
    text_body = render_to_string(f"emails/{kind}.txt", context)
    html_body = render_to_string(f"emails/{kind}.html", context)
    transaction.on_commit(
        lambda: _deliver(notification.pk, customer.email, subject, text_body, html_body)
    )
    return notification


def _deliver(notification_id: int, to: str, subject: str, text_body: str, html_body: str) -> None:
    message = EmailMultiAlternatives(subject, text_body, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach_alternative(html_body, "text/html")
    try:
        message.send()
    except Exception as exc:  # the record stays, with the error, for staff to see and resend
        logger.exception("e-mail not sent", extra={"notification": notification_id})
        EmailNotification.objects.filter(pk=notification_id).update(error=str(exc)[:2000])
        return
    EmailNotification.objects.filter(pk=notification_id).update(sent_at=timezone.now())
