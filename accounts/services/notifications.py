"""E-mails to customers: rendered from templates, recorded once, sent after commit.

Every e-mail is keyed by (customer, kind, dedupe_key) in EmailNotification, so a rerun of
whatever decided to send it (a webhook replay, a cron run, a retried batch) never sends twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from accounts.bulk import insert_returning_ids
from accounts.models import Customer, EmailNotification

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


BULK_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Recipient:
    """What e-mail templates and records need of a customer, without loading the model."""

    pk: int
    external_id: str
    email: str

    def as_customer(self) -> Customer:
        return Customer(pk=self.pk, external_id=self.external_id, email=self.email)


def email_send_once_bulk(
    *, kind: str, messages: Iterable[tuple[Customer | Recipient, str, dict]]
) -> int:
    """`email_send_once` for many customers at once: (customer, dedupe_key, context) each.

    Still one EmailNotification per customer (the same unique key, so a rerun sends nothing
    twice), but recorded in bulk (COPY on PostgreSQL) and delivered after commit over one mail
    connection. Messages may share one context dict (e.g. per plan and date); a subject that
    does not mention the customer is then rendered once per shared context. Returns how many
    were recorded now.
    """
    pending = [(c, key, ctx) for c, key, ctx in messages if c.email]
    keys = sorted({key for _, key, _ in pending})
    already: set[tuple[int, str]] = set()
    for start in range(0, len(keys), BULK_CHUNK):
        already.update(
            EmailNotification.objects.filter(
                kind=kind, dedupe_key__in=keys[start : start + BULK_CHUNK]
            ).values_list("customer_id", "dedupe_key")
        )
    todo = [(c, key, ctx) for c, key, ctx in pending if (c.pk, key) not in already]
    if not todo:
        return 0
    subject_template = get_template(f"emails/{kind}_subject.txt")
    per_customer_subject = "customer" in subject_template.template.source
    subjects: dict[int, str] = {}

    def subject_for(context: dict, shared: dict | None) -> str:
        if per_customer_subject or shared is None:
            return " ".join(subject_template.render(context).split())
        if id(shared) not in subjects:
            subjects[id(shared)] = " ".join(subject_template.render(context).split())
        return subjects[id(shared)]

    site_url = settings.SITE_URL
    now = timezone.now()
    contexts = []
    rows = []
    for c, key, ctx in todo:
        context = {"customer": c, "site_url": site_url, **(ctx or {})}
        contexts.append(context)
        rows.append((c.pk, kind, key, c.email, subject_for(context, ctx), now, ""))
    try:
        with transaction.atomic():
            ids = insert_returning_ids(
                EmailNotification,
                ("customer_id", "kind", "dedupe_key", "to_email", "subject", "created_at", "error"),
                rows,
            )
    except IntegrityError:
        # Another sender recorded some of these meanwhile: settle them one by one.
        return sum(
            email_send_once(
                customer=c.as_customer() if isinstance(c, Recipient) else c,
                kind=kind,
                dedupe_key=key,
                context=ctx,
            )
            is not None
            for c, key, ctx in todo
        )
    deliveries = [
        (pk, row[3], row[4], context) for pk, row, context in zip(ids, rows, contexts, strict=True)
    ]
    transaction.on_commit(lambda: _deliver_many(kind, deliveries))
    return len(ids)


def _deliver_many(kind: str, deliveries: list[tuple[int, str, str, dict]]) -> None:
    text_template = get_template(f"emails/{kind}.txt")
    html_template = get_template(f"emails/{kind}.html")
    connection = get_connection()
    for start in range(0, len(deliveries), BULK_CHUNK):
        chunk = deliveries[start : start + BULK_CHUNK]
        messages = []
        for _, to, subject, context in chunk:
            message = EmailMultiAlternatives(
                subject,
                text_template.render(context),
                settings.DEFAULT_FROM_EMAIL,
                [to],
                connection=connection,
            )
            message.attach_alternative(html_template.render(context), "text/html")
            messages.append(message)
        try:
            connection.send_messages(messages)
        except Exception:
            # Find out which ones fail, and record the error on each of those.
            logger.exception("bulk e-mail send failed; retrying one by one", extra={"kind": kind})
            for (notification_id, *_), message in zip(chunk, messages, strict=True):
                _send_recorded(notification_id, message)
            continue
        EmailNotification.objects.filter(pk__in=[pk for pk, *_ in chunk]).update(
            sent_at=timezone.now()
        )


def _send_recorded(notification_id: int, message: EmailMultiAlternatives) -> None:
    message.connection = None  # the shared one may be what failed
    try:
        message.send()
    except Exception as exc:
        logger.exception("e-mail not sent", extra={"notification": notification_id})
        EmailNotification.objects.filter(pk=notification_id).update(error=str(exc)[:2000])
        return
    EmailNotification.objects.filter(pk=notification_id).update(sent_at=timezone.now())
