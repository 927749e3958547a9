"""The floor: a bare DRF app doing the hot paths' SQL work and nothing else.

No middleware, no authentication, no permission or throttle checks, no logging, no
connection health check; Django's own PostgreSQL backend with production's connection options
(connection reuse, prepared statements), on its own tables (`floor_*`, built by bench/run.py
from the bench data). Served by the same gunicorn, driven by the same wrk scripts, so that the
real paths' rates can be read as ratios to it.
"""

from config.settings import DATABASES as _PRODUCTION_DATABASES
from config.settings import SECRET_KEY  # noqa: F401

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
