"""The Stripe side's own records: the outbox of subscription price moves."""

from __future__ import annotations

from django.db import models

from accounts.models import MigrationBatch, PlanChange


class PriceMoveStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (needs staff)"
    SKIPPED = "skipped", "Skipped (superseded)"


class StripeAction(models.TextChoices):
    """What an outbox row asks Stripe to do with the subscription."""

    PRICE = "price", "Move to another price"
    CANCEL_NOW = "cancel_now", "Cancel now"
    CANCEL_AT_PERIOD_END = "cancel_at_period_end", "Cancel at the period's end"
    RESUME = "resume", "Renew again (undo the cancellation at the period's end)"


class StripePriceMove(models.Model):
    """Outbox row: a subscription to move to another Stripe price because a plan changed.

    Written in the same transaction as its PlanChange, so no move is lost; sent to Stripe after
    commit and retried by `manage.py stripe_price_moves` with the same idempotency key, so none
    is done twice. A failure never undoes the plan change.
    """

    plan_change = models.OneToOneField(
        PlanChange, on_delete=models.PROTECT, related_name="stripe_price_move"
    )
    batch = models.ForeignKey(
        MigrationBatch,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stripe_price_moves",
    )
    subscription_id = models.CharField(max_length=255, db_index=True)
    from_price_id = models.CharField(max_length=255, blank=True)
    to_price_id = models.CharField(max_length=255, blank=True)
    action = models.CharField(
        max_length=24, choices=StripeAction.choices, default="price", db_default="price"
    )
    proration_behavior = models.CharField(
        max_length=24, default="none", db_default="none", help_text="How Stripe bills a price move."
    )
    idempotency_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=16, choices=PriceMoveStatus.choices, default=PriceMoveStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "id"]), models.Index(fields=["batch", "status"])]

    def __str__(self) -> str:
        if self.action != StripeAction.PRICE:
            return f"{self.subscription_id}: {self.get_action_display()} ({self.status})"
        return f"{self.subscription_id}: {self.from_price_id} → {self.to_price_id} ({self.status})"
