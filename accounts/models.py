"""The bottom layer's records: plans, customers, projects, the plan-change audit trail (with the
batches that group its rows) and the e-mail outbox.

The tables keep the names they had when these models lived in the `billing` app
(`billing_plan`, …): moving the models between apps moved no row.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.fields import InternationalEmailField
from accounts.formatting import day


class BillingUnit(models.TextChoices):
    SESSIONS = "sessions", "Sessions"
    MINUTES = "minutes", "Minutes"


class Plan(models.Model):
    """One row per plan; every figure of the pricing tables lives here and is editable."""

    code = models.SlugField(
        max_length=40, unique=True, help_text="Stable identifier: free, starter…"
    )
    name = models.CharField(max_length=80)
    billing_unit = models.CharField(max_length=16, choices=BillingUnit.choices)
    included_sessions = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Monthly session quota. Empty for minute-billed legacy plans.",
    )
    included_minutes = models.PositiveIntegerField(
        help_text="Minute quota of a minute plan. A session plan shows its sessions times the "
        "measured minutes per session instead."
    )
    price_cents = models.PositiveIntegerField(help_text="Monthly price in cents.")
    currency = models.CharField(max_length=3, default="usd")
    requests_per_minute = models.PositiveIntegerField()
    max_concurrent_sessions = models.PositiveIntegerField()
    max_projects = models.PositiveIntegerField()
    badge = models.BooleanField(help_text='Shows "Powered by AI-Gate".')
    support = models.CharField(max_length=40)
    sla = models.CharField(max_length=20, blank=True)
    is_public = models.BooleanField(default=False, help_text="Shown on the pricing page.")
    is_legacy = models.BooleanField(default=False)
    migrates_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="migrates_from",
        help_text="The session plan a legacy customer moves to.",
    )
    stripe_price_id = models.CharField(max_length=255, blank=True, db_index=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "billing_plan"
        ordering = ["is_legacy", "sort_order", "price_cents"]
        constraints = [
            models.CheckConstraint(
                condition=Q(billing_unit="minutes") | Q(included_sessions__isnull=False),
                name="plan_session_plan_has_session_quota",
            ),
            models.CheckConstraint(
                condition=~Q(is_public=True, is_legacy=True), name="plan_legacy_is_not_public"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def bills_minutes(self) -> bool:
        return self.billing_unit == BillingUnit.MINUTES

    @property
    def public_name(self) -> str:
        """The name customers read: staff's "Pro (minutes, legacy)" is "Pro (minutes)" to the
        customer who bought Pro, and never "legacy"."""
        if not self.is_legacy:
            return self.name
        base = re.sub(r"\s*\([^)]*\)\s*$", "", self.name).strip() or self.name
        return f"{base} (minutes)" if self.bills_minutes else base

    @property
    def quota(self) -> int:
        """The monthly quota in the plan's own billing unit."""
        return self.included_minutes if self.bills_minutes else self.included_sessions


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"


class Customer(models.Model):
    external_id = models.CharField(
        max_length=255, unique=True, help_text="The user_id / clientId the proxy and dashboard use."
    )
    email = InternationalEmailField(blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="customers")
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
        help_text="The login this customer signs in with.",
    )
    # Stripe ids are kept as text so that imported customers keep them before any sync;
    # the dj-stripe rows are found by these ids.
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_state_at = models.DateTimeField(
        null=True, blank=True, help_text="Time of the newest Stripe state applied (ordering)."
    )
    # Grandfathering: the customer keeps its legacy plan until this time, then moves.
    grandfathered_until = models.DateTimeField(null=True, blank=True, db_index=True)
    grandfather_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The plan this customer moves to when grandfathering ends.",
    )
    migration_exempt = models.BooleanField(
        default=False, help_text="Never moved automatically to a session plan."
    )
    # A change staff (or the customer) asked for at the end of the paid period: the customer
    # keeps its plan until then (`accounts/services/scheduled_plan.py`).
    pending_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The plan this customer moves to at the end of its paid period.",
    )
    pending_plan_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When the pending plan takes effect."
    )
    # db_default: the bulk writers (import, batches) insert rows naming their columns.
    complimentary = models.BooleanField(
        default=False,
        db_default=False,
        help_text="On a paid plan that staff gave by hand, without a Stripe subscription.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "billing_customer"
        ordering = ["external_id"]
        indexes = [models.Index(fields=["plan", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(grandfathered_until__isnull=True) | Q(grandfather_plan__isnull=False),
                name="customer_grandfathering_names_next_plan",
            ),
            models.CheckConstraint(
                condition=Q(pending_plan__isnull=True, pending_plan_at__isnull=True)
                | Q(pending_plan__isnull=False, pending_plan_at__isnull=False),
                name="customer_pending_plan_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_grandfathered(self) -> bool:
        return self.grandfathered_until is not None

    @property
    def has_live_subscription(self) -> bool:
        """Pays through a Stripe subscription that has not ended: plan changes move that
        subscription's price, and a second Checkout would bill twice."""
        return bool(self.stripe_subscription_id) and self.status != CustomerStatus.CANCELED


class Project(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="projects")
    project_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billing_project"
        ordering = ["customer", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "project_id"], name="project_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.project_id}"


class ChangeSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"
    WEBHOOK = "webhook", "Stripe webhook"
    API = "api", "API"
    GRANDFATHERING = "grandfathering", "Grandfathering"
    MIGRATION = "migration", "Migration batch"
    ROLLBACK = "rollback", "Rollback"
    IMPORT = "import", "Import"
    RECONCILE = "reconcile", "Reconciliation with Stripe"
    SYSTEM = "system", "System"


class BatchKind(models.TextChoices):
    REMAP = "remap", "Remap now"
    GRANDFATHER = "grandfather", "Grandfather"
    EXTEND = "extend", "Extend grandfathering"
    END_GRANDFATHERING = "end_grandfathering", "End grandfathering now"
    EXEMPT = "exempt", "Exempt from migration"
    REMOVE_EXEMPTION = "remove_exemption", "Remove migration exemption"
    AUTO_MIGRATE = "auto_migrate", "Automatic move at grandfathering end"


class BatchStatus(models.TextChoices):
    PLANNED = "planned", "Planned (dry run)"
    APPLIED = "applied", "Applied"
    ROLLED_BACK = "rolled_back", "Rolled back"


class MigrationBatch(models.Model):
    """One bulk operation on customers: what was selected, the mapping, and what it did."""

    kind = models.CharField(max_length=24, choices=BatchKind.choices)
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.PLANNED
    )
    selection = models.JSONField(default=dict, help_text="How customers were picked.")
    mapping = models.JSONField(default=dict, help_text="legacy plan code → new plan code.")
    grandfather_months = models.PositiveSmallIntegerField(null=True, blank=True)
    notify = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.CharField(max_length=150, help_text="Who ran it (username or command).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_count = models.PositiveIntegerField(default=0)
    changed_count = models.PositiveIntegerField(default=0)
    rolled_back_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="The dry-run report.")
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "billing_migrationbatch"
        ordering = ["-created_at"]
        verbose_name_plural = "migration batches"

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.get_kind_display()}, {self.get_status_display()})"


class PlanChange(models.Model):
    """Append-only record of every plan or migration-state change, from any source.

    `state_before` / `state_after` hold the customer's full migration state (plan,
    grandfathering, exemption, Stripe price) so that a batch can be rolled back exactly.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="plan_changes")
    from_plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    from_price_cents = models.PositiveIntegerField(null=True, blank=True)
    to_price_cents = models.PositiveIntegerField()
    source = models.CharField(max_length=20, choices=ChangeSource.choices)
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    batch = models.ForeignKey(
        MigrationBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    state_before = models.JSONField(default=dict, blank=True)
    state_after = models.JSONField(default=dict, blank=True)
    stripe_event_id = models.CharField(max_length=255, blank=True)
    complimentary = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A paid plan given by hand to a customer who pays nothing.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "billing_planchange"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        """How staff read it: "Starter → Growth · by alice · 3 Dec 2026 · goodwill"."""
        moved = self.move_label
        if self.complimentary:
            moved += " (complimentary)"
        pending = (self.state_after or {}).get("pending_plan")
        was_pending = (self.state_before or {}).get("pending_plan")
        if pending and pending != was_pending:
            moved += f" (to {pending} at the end of the paid period)"
        elif was_pending and not pending and self.from_plan_id == self.to_plan_id:
            moved += f" (move to {was_pending} undone)"
        when = day(self.created_at) if self.created_at else ""
        parts = [moved, f"by {self.actor}" if self.actor else "", when, self.reason]
        return " · ".join(part for part in parts if part)

    @property
    def move_label(self) -> str:
        """ "Starter → Growth"; "Growth" when the plan stayed or there was none before."""
        if self.from_plan_id and self.from_plan_id != self.to_plan_id:
            return f"{self.from_plan.name} → {self.to_plan.name}"
        return self.to_plan.name


class EmailKind(models.TextChoices):
    MIGRATION_NOTICE = "migration_notice", "Migration notice"
    MIGRATED = "migrated", "Moved to new plan"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    USAGE_80 = "usage_80", "Usage at 80%"
    USAGE_100 = "usage_100", "Usage at 100%"
    SIGN_IN = "sign_in", "Sign-in link"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (needs staff)"


class EmailNotification(models.Model):
    """The e-mail outbox: one row per e-mail we decided to send, written in the transaction of
    its cause and delivered by a worker. The unique key makes a rerun never send twice."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=24, choices=EmailKind.choices)
    dedupe_key = models.CharField(max_length=120, help_text="e.g. the month or the batch id.")
    to_email = InternationalEmailField()
    subject = models.CharField(max_length=255, blank=True)
    context = models.JSONField(
        default=dict, blank=True, help_text="What the templates show (encoded model references)."
    )
    status = models.CharField(
        max_length=12, choices=EmailStatus.choices, default=EmailStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="A pending e-mail is not sent before this time."
    )
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took it (its lease starts)."
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a delivery task was last queued for it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "billing_emailnotification"
        ordering = ["-created_at"]
        verbose_name = "e-mail"  # as the admin's sidebar names the list: "E-mails sent"
        verbose_name_plural = "e-mails sent"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "dedupe_key"], name="email_sent_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="email_outbox_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email}"


class SignInPurpose(models.TextChoices):
    PORTAL_SESSION = "portal_session", "Portal session (API)"
    SIGN_IN_EMAIL = "sign_in_email", "Sign-in e-mail (asked for)"
    NOTIFICATION = "notification", "Link in a customer e-mail"


class SignInLink(models.Model):
    """A one-time link that signs a customer in. Only the SHA-256 digest of its token is
    stored; the token itself exists only in the URL handed out (API answer or e-mail).
    `used_at` is set by one conditional UPDATE, so a link signs in at most once."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sign_in_links")
    digest = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=20, choices=SignInPurpose.choices)
    return_url = models.CharField(max_length=2000, blank=True)
    notification = models.ForeignKey(
        EmailNotification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sign_in_links",
        help_text="The e-mail whose delivery attempt minted this link.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} for {self.customer_id}"


class ScheduledRun(models.Model):
    """One row per scheduled job and time slot: the unique key lets any number of schedulers
    (two hosts, a restart, an overlapping cron) queue each slot's job exactly once."""

    name = models.CharField(max_length=80)
    slot = models.DateTimeField(help_text="Start of the slot the job ran for (UTC).")
    queued_at = models.DateTimeField(auto_now_add=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-slot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["name", "slot"], name="scheduled_run_once_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot:%Y-%m-%d %H:%M}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BackgroundJob(models.Model):
    """A bulk operation staff started from the admin (apply or roll back a batch), run by a
    worker. At most one queued or running job per batch: a second click cannot start it twice.
    Progress while it runs is kept in the shared cache; the outcome is kept here."""

    kind = models.CharField(max_length=40)
    batch = models.ForeignKey(
        MigrationBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    options = models.JSONField(default=dict, blank=True)
    payload = models.BinaryField(
        blank=True, default=b"", help_text="The job's input file (an uploaded import)."
    )
    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED)
    actor = models.CharField(max_length=150)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch"],
                condition=Q(state__in=["queued", "running"]),
                name="one_active_job_per_batch",
            ),
            # Jobs of no batch (an import): one of each kind at a time.
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(batch__isnull=True, state__in=["queued", "running"]),
                name="one_active_unbatched_job_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk}: {self.kind.replace('_', ' ')} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


class MinutesPerSessionChange(models.Model):
    """The average minutes of one session: the figure that shows a session plan's quota as
    estimated minutes and turns a month of minutes into sessions. Append-only: the newest row is
    the figure in force, each row says who set it, when, from what, and on which measured sample
    (no row yet: the MINUTES_PER_SESSION setting)."""

    value = models.DecimalField(max_digits=5, decimal_places=2)
    previous_value = models.DecimalField(max_digits=5, decimal_places=2)
    actor = models.CharField(max_length=255)
    reason = models.CharField(max_length=255, blank=True)
    sample = models.JSONField(
        default=dict, blank=True, help_text="The measurement the figure was taken from."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "minutes per session"
        verbose_name_plural = "minutes per session"
        constraints = [
            models.CheckConstraint(
                condition=Q(value__gt=0) & Q(previous_value__gt=0),
                name="minutes_per_session_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.previous_value} → {self.value} min per session"
