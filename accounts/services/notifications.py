"""E-mails to customers: recorded once in the outbox, in the transaction of their cause, and
delivered by a worker (Django's task framework), off the request path.

Every e-mail is keyed by (customer, kind, dedupe_key) in EmailNotification, so a rerun of
whatever decided to send it (a webhook replay, a cron run, a retried batch) never sends twice.
The row holds the subject and the templates' context; the delivery task claims it (`sending`,
with a lease), sends it, and marks it `sent`. A temporary failure (SMTP 4xx, a refused or
dropped connection, a time-out) puts it back to `pending` with a later `next_attempt_at`
(backoff); a permanent one (SMTP 5xx, a broken template) marks it `failed` for staff, who can
send it again from the admin. `emails_recover` (scheduled every minute) queues what is due and
gives back rows whose worker died while sending them (their lease ran out).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import get_template, render_to_string
from django.utils import timezone
from django_tasks import task

from accounts.bulk import insert_returning_ids
from accounts.models import Customer, EmailNotification, EmailStatus
from accounts.services.email_context import context_encode, contexts_decode
from accounts.services.sign_in import sign_in_links_for_emails

logger = logging.getLogger(__name__)

# Each delivery task sends this many e-mails over one SMTP connection.
DELIVERY_CHUNK = 100
# A pending row whose delivery task has waited this long (a very long backlog) is queued
# again by `emails_recover`; a second task finds it claimed and does nothing.
REQUEUE_PENDING_AFTER = timedelta(hours=1)
# Waits before the attempts after a temporary failure; after the last, the e-mail fails.
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


def _subject(kind: str, context: dict) -> str:
    return " ".join(render_to_string(f"emails/{kind}_subject.txt", context).split())


def email_send_once(
    *, customer: Customer, kind: str, dedupe_key: str, context: dict | None = None
) -> EmailNotification | None:
    """Record `kind` for the customer in the outbox and queue its delivery (in the caller's
    transaction), unless it was recorded before.

    Templates: `emails/<kind>_subject.txt`, `emails/<kind>.txt` and `emails/<kind>.html`, each
    given `customer`, `site_url` and `context` (plain values and model instances). Returns None
    when it was recorded before or the customer has no e-mail address.
    """
    if not customer.email:
        logger.warning("no e-mail address", extra={"customer": customer.external_id, "kind": kind})
        return None
    context = context or {}
    subject = _subject(kind, {"customer": customer, "site_url": settings.SITE_URL, **context})
    now = timezone.now()
    try:
        with transaction.atomic():
            notification = EmailNotification.objects.create(
                customer=customer,
                kind=kind,
                dedupe_key=dedupe_key,
                to_email=customer.email,
                subject=subject,
                context=context_encode(context),
                next_attempt_at=now,
                queued_at=now,
            )
    except IntegrityError:
        return None
    deliver_emails.enqueue([notification.pk])
    return notification


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
    encoded: dict[int, object] = {}  # a shared context is encoded once
    rows = []
    for c, key, ctx in todo:
        context = {"customer": c, "site_url": site_url, **(ctx or {})}
        if id(ctx) not in encoded:
            encoded[id(ctx)] = context_encode(ctx or {})
        rows.append(
            (
                c.pk,
                kind,
                key,
                c.email,
                subject_for(context, ctx),
                encoded[id(ctx)],
                EmailStatus.PENDING,
                0,
                now,
                now,
                now,
                "",
            )
        )
    try:
        with transaction.atomic():
            ids = insert_returning_ids(
                EmailNotification,
                (
                    "customer_id",
                    "kind",
                    "dedupe_key",
                    "to_email",
                    "subject",
                    "context",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "queued_at",
                    "created_at",
                    "error",
                ),
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
    emails_queue(ids)
    return len(ids)


def emails_queue(ids: list[int]) -> int:
    """Queue the delivery of these outbox rows, in chunks (in the caller's transaction)."""
    for start in range(0, len(ids), DELIVERY_CHUNK):
        deliver_emails.enqueue(list(ids[start : start + DELIVERY_CHUNK]))
    return len(ids)


# --- Delivery (in a worker) ------------------------------------------------------------------


@task()
def deliver_emails(notification_ids: list[int]) -> dict:
    """Send the due outbox rows among `notification_ids` (a task: run by `db_worker`)."""
    return emails_deliver(ids=notification_ids)


def is_permanent(exc: Exception) -> bool:
    """Whether sending again can never work: SMTP 5xx answers, a broken template or context.
    Anything else (4xx, refused or dropped connections, time-outs) is worth retrying."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(
        exc, TemplateDoesNotExist | TemplateSyntaxError | TypeError | ValueError | KeyError
    )


def _claim(ids: list[int], now) -> list[EmailNotification]:
    """Take the due rows (a row another worker holds is skipped), start their lease."""
    with transaction.atomic():
        rows = list(
            EmailNotification.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=EmailStatus.PENDING, next_attempt_at__lte=now)
            .order_by("pk")
        )
        EmailNotification.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=EmailStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    for row in rows:
        row.attempts += 1
    return rows


def _message(row: EmailNotification, customer, context: dict, sign_in_url: str, connection):
    context = {
        "customer": customer,
        "site_url": settings.SITE_URL,
        "sign_in_url": sign_in_url,
        **context,
    }
    message = EmailMultiAlternatives(
        row.subject,
        get_template(f"emails/{row.kind}.txt").render(context),
        settings.DEFAULT_FROM_EMAIL,
        [row.to_email],
        connection=connection,
    )
    message.attach_alternative(get_template(f"emails/{row.kind}.html").render(context), "text/html")
    return message


def _failed(row: EmailNotification, exc: Exception, now) -> str:
    """Record a failed attempt: back to pending with a backoff, or failed for good."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    # Only under this worker's lease: a row given back meanwhile may have been sent by another
    # worker since, and must not be put back to pending (sent again) or marked failed.
    ours = EmailNotification.objects.filter(
        pk=row.pk, status=EmailStatus.SENDING, claimed_at=row.claimed_at
    )
    if is_permanent(exc) or row.attempts >= MAX_ATTEMPTS:
        reason = error if is_permanent(exc) else f"gave up after {row.attempts} attempts: {error}"
        ours.update(status=EmailStatus.FAILED, claimed_at=None, error=reason)
        logger.error("e-mail failed for good", extra={"notification": row.pk, "error": reason})
        return EmailStatus.FAILED
    wait = BACKOFF_SECONDS[min(row.attempts, len(BACKOFF_SECONDS)) - 1]
    ours.update(
        status=EmailStatus.PENDING,
        claimed_at=None,
        queued_at=None,
        next_attempt_at=now + timedelta(seconds=wait),
        error=error,
    )
    logger.warning(
        "e-mail not sent, will retry",
        extra={"notification": row.pk, "attempt": row.attempts, "retry_in": wait, "error": error},
    )
    return EmailStatus.PENDING


def _renew(row: EmailNotification) -> bool:
    """Renew this worker's lease on the row right before sending it. False when the lease ran
    out meanwhile and the row was given back (another worker may be sending it): skip it."""
    now = timezone.now()
    renewed = EmailNotification.objects.filter(
        pk=row.pk, status=EmailStatus.SENDING, claimed_at=row.claimed_at
    ).update(claimed_at=now)
    row.claimed_at = now
    return bool(renewed)


def _open(connection) -> None:
    try:
        connection.open()
    except Exception:  # the first send retries and records why
        logger.warning("SMTP connection not opened; each e-mail tries again", exc_info=True)


def emails_deliver(*, ids: list[int]) -> dict:
    """Claim, render and send the due rows among `ids` over one SMTP connection. Each row's
    lease is renewed right before it is sent (a row given back because the chunk outlasted
    the lease is skipped, never sent twice by two live workers) and it is marked sent as soon
    as the server took it, so a worker killed midway resends at most the one it was sending.
    Returns counts by outcome."""
    now = timezone.now()
    rows = _claim(ids, now)
    outcome = {"sent": 0, "retry": 0, "failed": 0, "skipped": len(ids) - len(rows)}
    if not rows:
        return outcome
    for row in rows:
        row.claimed_at = now
    customers = Customer.objects.in_bulk([row.customer_id for row in rows])
    contexts = contexts_decode([row.context for row in rows])
    # Each e-mail links to the portal with its own one-time sign-in link, minted now (see
    # accounts/services/sign_in.py): never stored in the outbox, one live link per e-mail.
    links = sign_in_links_for_emails(rows)
    connection = get_connection()
    _open(connection)
    try:
        for row, context in zip(rows, contexts, strict=True):
            if not _renew(row):
                outcome["skipped"] += 1
                continue
            try:
                message = _message(
                    row, customers.get(row.customer_id), context, links[row.pk], connection
                )
                message.send()
            except Exception as exc:  # classified: retried later or failed for good
                status = _failed(row, exc, timezone.now())
                outcome["failed" if status == EmailStatus.FAILED else "retry"] += 1
                with contextlib.suppress(Exception):
                    connection.close()
                connection = get_connection()  # the shared one may be what failed
                _open(connection)
                continue
            EmailNotification.objects.filter(pk=row.pk).update(
                status=EmailStatus.SENT, sent_at=timezone.now(), claimed_at=None, error=""
            )
            outcome["sent"] += 1
    finally:
        with contextlib.suppress(Exception):
            connection.close()
    return outcome


@dataclass(frozen=True)
class RecoveryRun:
    released: int  # leases that ran out (a worker died while sending): pending again
    queued: int  # due rows that no live task covers, queued now


def emails_recover(*, now=None) -> RecoveryRun:
    """Give back rows whose worker died while sending them, and queue every due row that no
    recent task covers (retries after a backoff, rows whose task died with its worker).
    Scheduled every minute; safe to run anywhere, any number of times (a row is claimed once)."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    with transaction.atomic():
        released = EmailNotification.objects.filter(
            status=EmailStatus.SENDING, claimed_at__lt=now - lease
        ).update(status=EmailStatus.PENDING, claimed_at=None, queued_at=None, next_attempt_at=now)
        due = list(
            EmailNotification.objects.filter(status=EmailStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_PENDING_AFTER))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        EmailNotification.objects.filter(pk__in=due).update(queued_at=now)
        emails_queue(due)
    if released or due:
        logger.info("e-mail outbox recovered", extra={"released": released, "queued": len(due)})
    return RecoveryRun(released=released, queued=len(due))


def emails_retry(*, ids: Iterable[int]) -> int:
    """Staff: send failed e-mails again (attempts start over). Returns how many were queued."""
    now = timezone.now()
    with transaction.atomic():
        failed = list(
            EmailNotification.objects.select_for_update()
            .filter(pk__in=list(ids), status=EmailStatus.FAILED)
            .values_list("pk", flat=True)
        )
        EmailNotification.objects.filter(pk__in=failed).update(
            status=EmailStatus.PENDING, attempts=0, next_attempt_at=now, queued_at=now, error=""
        )
        emails_queue(failed)
    return len(failed)


@task()
def recover_email_outbox() -> dict:
    """Scheduled every minute: `emails_recover` in a worker."""
    run = emails_recover()
    return {"released": run.released, "queued": run.queued}
