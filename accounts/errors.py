"""The domain errors that services raise; the API maps each to an HTTP answer by its `code`."""

from __future__ import annotations


class BillingError(Exception):
    """Base of every domain error. `code` is machine-readable; the message is for people."""

    code = "billing_error"
    http_status = 400

    def __init__(self, detail: str, **extra) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(BillingError):
    code = "invalid"
    http_status = 400


class NotFound(BillingError):
    code = "not_found"
    http_status = 404


class Conflict(BillingError):
    code = "conflict"
    http_status = 409


class SubscriptionExists(Conflict):
    """A second Checkout would bill a customer who already pays through a live subscription."""

    code = "subscription_exists"


class SubscriptionMissing(Conflict):
    """A plan switch for a customer who pays through no live subscription: use Checkout."""

    code = "no_subscription"


class PaymentPastDue(Conflict):
    """A plan switch refused while the subscription's last payment is unpaid."""

    code = "past_due"


class NoStripeCustomer(Conflict):
    """Stripe's billing portal for a customer who never paid: Stripe holds nothing for it."""

    code = "no_stripe_customer"


class UsageOverPlan(Conflict):
    """A move down refused: this month's usage already uses up the smaller plan's quota."""

    code = "usage_over_plan"


class QuotaExceeded(BillingError):
    code = "quota_exceeded"
    http_status = 402


class ProjectLimitReached(BillingError):
    code = "project_limit"
    http_status = 403


class ConcurrencyLimitReached(BillingError):
    code = "concurrency_limit"
    http_status = 429

    def __init__(self, detail: str, *, retry_after: int, **extra) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class RateLimited(BillingError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, detail: str, *, retry_after: int, **extra) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class StripeUnavailable(BillingError):
    code = "stripe_unavailable"
    http_status = 503


class StripePriceChanged(Conflict):
    """A subscription is no longer on the price a move expected to find: changed since."""

    code = "stripe_price_changed"
