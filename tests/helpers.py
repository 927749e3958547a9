import pytest
from django.conf import settings

IS_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]

requires_postgres = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="needs PostgreSQL (row locks, parallel transactions); CI runs it with "
    "DATABASE_URL=postgres://…",
)
