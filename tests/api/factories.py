"""Factories of the api app's rows: service keys."""

import factory

from api.models import ServiceKey
from api.service_keys import KEY_PREFIX, service_key_digest


class ServiceKeyFactory(factory.django.DjangoModelFactory):
    """A key as `service_key_create` stores it; pass `raw_key` to know the key itself."""

    class Meta:
        model = ServiceKey

    class Params:
        raw_key = factory.Sequence(lambda n: f"{KEY_PREFIX}test-key-{n:08d}")

    name = factory.Sequence(lambda n: f"key-{n}")
    prefix = factory.LazyAttribute(lambda k: k.raw_key[:12])
    key_hash = factory.LazyAttribute(lambda k: service_key_digest(k.raw_key))
