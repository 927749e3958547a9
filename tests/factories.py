import factory
from django.contrib.auth import get_user_model

from accounts.models import Customer, Plan, Project


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

    customer = factory.SubFactory(CustomerFactory)
    project_id = factory.Sequence(lambda n: f"project-{n}")
