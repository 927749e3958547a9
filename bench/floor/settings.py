"""The floor: a bare DRF app doing the hot paths' SQL work and nothing else.

No middleware, no authentication, no permission or throttle checks, no logging, no
connection health check; Django's own PostgreSQL backend with production's connection options
(connection reuse, prepared statements), on its own tables (`floor_*`, built by bench/run.py
from the bench data). Served by the same gunicorn, driven by the same wrk scripts, so that the
real paths' rates can be read as ratios to it.
"""

import os

from config.settings import (  # noqa: F401
    CACHE_TIMEOUT_SECONDS,
    CACHES,
    RATE_LIMITS_ENABLED,
    SECRET_KEY,
)
from config.settings import DATABASES as _PRODUCTION_DATABASES

# A second floor, for a measure rather than a target: the same views, each request also counted
# by the app's own rate-limit counter (usage/ratelimit.py, one Redis round trip). bench/run.py
# serves it beside the floor to show what the limit alone costs.
FLOOR_RATE_LIMITED = os.environ.get("FLOOR_RATE_LIMITED") == "1"
if FLOOR_RATE_LIMITED:  # its own counters: the app's must not reach their limits sooner
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": "floor"}}

DATABASES = {
    "default": {
        **_PRODUCTION_DATABASES["default"],
        "ENGINE": "django.db.backends.postgresql",
        "CONN_HEALTH_CHECKS": False,
    }
}
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.floor.urls"
INSTALLED_APPS = ["rest_framework"]
MIDDLEWARE: list[str] = []
USE_TZ = True
LOGGING_CONFIG = None
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
