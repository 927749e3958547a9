"""Stripe's figures for `/metrics`: the price-move outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count

from accounts.monitoring import Row, gauges
from billing.models import PriceMoveStatus, StripePriceMove


@gauges
def price_move_gauges(now: datetime) -> Iterable[Row]:
    counts = dict(
        StripePriceMove.objects.filter(status__in=[PriceMoveStatus.PENDING, PriceMoveStatus.FAILED])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for status in (PriceMoveStatus.PENDING, PriceMoveStatus.FAILED):
        yield ("aigate_stripe_price_moves", "gauge", {"status": status}, counts.get(status, 0))
