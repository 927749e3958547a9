"""Factories of the accounts app's rows: logins, customers, projects and the audit trail.

Plans are not made here: the catalogue migration seeds them, `plan(code)` reads one.
"""

import factory
from django.contrib.auth import get_user_model

from accounts.models import (
    BatchKind,
    ChangeSource,
    Customer,
    EmailKind,
    EmailNotification,
    MigrationBatch,
    Plan,
    PlanChange,
    Project,
)


def plan(code: str) -> Plan:
    return Plan.objects.get(code=code)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"user_{n:05d}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.com")
    plan = factory.LazyFunction(lambda: plan("free"))


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("customer", "project_id")  # unique together

    customer = factory.SubFactory(CustomerFactory)
    project_id = factory.Sequence(lambda n: f"project-{n}")


class MigrationBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MigrationBatch

    kind = BatchKind.REMAP
    actor = "tests"


class PlanChangeFactory(factory.django.DjangoModelFactory):
    """An audit row as a service writes it; by default the customer stays on its plan."""

    class Meta:
        model = PlanChange

    customer = factory.SubFactory(CustomerFactory)
    from_plan = factory.LazyAttribute(lambda c: c.customer.plan)
    to_plan = factory.LazyAttribute(lambda c: c.customer.plan)
    from_price_cents = factory.LazyAttribute(lambda c: c.from_plan and c.from_plan.price_cents)
    to_price_cents = factory.LazyAttribute(lambda c: c.to_plan.price_cents)
    source = ChangeSource.ADMIN
    actor = "tests"


class EmailNotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailNotification

    customer = factory.SubFactory(CustomerFactory)
    kind = EmailKind.MIGRATION_NOTICE
    dedupe_key = factory.Sequence(lambda n: f"key-{n}")
    to_email = factory.LazyAttribute(lambda e: e.customer.email)
