"""Factories of the usage app's rows: sessions and the monthly counters."""

import factory
from django.utils import timezone

from accounts.periods import period_of
from tests.accounts.factories import CustomerFactory, ProjectFactory
from usage.models import MonthlyUsage, Session, SessionStatus


class MonthlyUsageFactory(factory.django.DjangoModelFactory):
    """A month's counters as the metering would have left them (this month by default)."""

    class Meta:
        model = MonthlyUsage

    customer = factory.SubFactory(CustomerFactory)
    period = factory.LazyFunction(lambda: period_of().start)


class SessionFactory(factory.django.DjangoModelFactory):
    """A session as `session_start` records it, counted in the month it started."""

    class Meta:
        model = Session

    session_id = factory.Sequence(lambda n: f"session-{n}")
    customer = factory.SubFactory(CustomerFactory)
    project = factory.SubFactory(ProjectFactory, customer=factory.SelfAttribute("..customer"))
    status = SessionStatus.ACTIVE
    started_at = factory.LazyFunction(timezone.now)
    period = factory.LazyAttribute(lambda s: period_of(s.started_at).start)
