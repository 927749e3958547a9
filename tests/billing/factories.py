"""Factories of the billing app's rows: the outbox of Stripe price moves."""

import factory
from django.utils import timezone

from billing.models import StripePriceMove
from billing.services.stripe_price_moves import idempotency_key
from tests.accounts.factories import PlanChangeFactory


class StripePriceMoveFactory(factory.django.DjangoModelFactory):
    """A pending move, keyed by its plan change as `price_moves_record` keys it."""

    class Meta:
        model = StripePriceMove

    plan_change = factory.SubFactory(PlanChangeFactory)
    batch = factory.SelfAttribute("plan_change.batch")
    subscription_id = factory.Sequence(lambda n: f"sub_{n}")
    idempotency_key = factory.LazyAttribute(lambda m: idempotency_key(m.plan_change.pk))
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
