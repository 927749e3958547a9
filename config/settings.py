"""Settings: every value comes from the environment (see `.env.example`)."""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (50+ random characters), "
            "or set DEBUG=true for local development only."
        )
    SECRET_KEY = "django-insecure-local-development-only-never-in-production"  # noqa: S105
elif not DEBUG and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")
):
    # What `check --deploy` calls a weak key (security.W009), refused at start-up: a default
    # or short key signs sessions and sign-in links anyone could forge.
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: it needs 50 or more characters, 5 or more of "
        "them different, and no 'django-insecure-' prefix (a default key). Generate one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django-unfold, the admin's theme: before django.contrib.admin, whose templates it overrides.
    "unfold",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "djstripe",
    "django_tasks",
    "django_tasks_db",
    "axes",
    # Our apps, bottom layer first (the import-linter contract in pyproject.toml keeps the
    # direction). They come after djstripe so that our webhook receivers run after its sync
    # handlers.
    "accounts",
    "api",
    "usage",
    "billing",
    "migration",
    "portal",
]
# Development tools (the Stripe stand-in, demo data and logins) never load in production:
# only with DEBUG on, or when DEVTOOLS=true (the test suite).
if env.bool("DEVTOOLS", default=DEBUG):
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.hostile.HostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its 429 answer.
    "axes.middleware.AxesMiddleware",
]
# The chain of service-key requests to the metering API's hot paths (config/wsgi.py): the
# above without what only sessions, forms, static files and sign-ins use.
API_MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if name
    not in {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "axes.middleware.AxesMiddleware",
    }
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.support",
                "portal.context_processors.return_url",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the embedded default so that `make run` works on a bare machine;
# production and CI use PostgreSQL (DATABASE_URL=postgres://…).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with the health check made without a round trip when the connection's
    # socket shows nothing amiss (config/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    # Server-side binding lets psycopg prepare a query after 5 runs on a connection; planning
    # the usage read's join costs more than running it. Set DATABASE_PREPARED_STATEMENTS=false
    # behind a transaction-pooling PgBouncer (it cannot keep prepared statements).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": 5}
        )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the write lock instead of failing at once, and take it at BEGIN so that two
    # writers never deadlock upgrading a read lock (SQLite has no row locks).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits are counted here: use Redis when several workers serve) -------------
# Development (DEBUG) defaults to a file cache, shared by the server and the worker (job
# progress, rate limits); production sets Redis.
CACHES = {
    "default": env.cache(
        "CACHE_URL",
        default=f"filecache://{BASE_DIR / '.cache'}" if DEBUG else "locmemcache://",
    )
}
# A cache call gives up after this long: a frozen Redis must not hold a request (rate limits
# then fail open; see usage/ratelimit.py).
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", default=0.2)
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_timeout": CACHE_TIMEOUT_SECONDS, "socket_connect_timeout": CACHE_TIMEOUT_SECONDS}
    )

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in is throttled (django-axes) for staff and customers alike: after AXES_FAILURE_LIMIT
# wrong passwords for one username from one address, that pair is refused (429) until
# AXES_COOLOFF_MINUTES have passed; a successful sign-in resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/account/usage/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Dates read "3 Dec 2026, 14:05" wherever Django formats them (config/formats/en/formats.py).
FORMAT_MODULE_PATH = "config.formats"

# --- Static files (served by whitenoise) ----------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

# --- Background work (Django's task framework; the django-tasks backport on Django 5.2) -----
# Tasks are rows of the database queue, written in the transaction of their cause; workers
# run them: `python manage.py db_worker` (several, on several hosts, on PostgreSQL).
TASKS = {
    "default": {"BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")}
}
# A worker that took an outbox row (an e-mail) and died gives it back after this long: longer
# than one send can take (accounts.W001: 10 SMTP replies of up to EMAIL_TIMEOUT each).
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=120)
# Without PostgreSQL's advisory locks (SQLite), a bulk job running longer than this is taken
# for one whose worker died; a queue row left running this long is marked failed.
JOB_STALE_SECONDS = env.int("JOB_STALE_SECONDS", default=3600)
TASK_STALE_SECONDS = env.int("TASK_STALE_SECONDS", default=3600)

# --- E-mail ---------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":  # noqa: F821 (set just above)
    # Internationalised addresses go out with SMTPUTF8 (accounts/mail.py).
    EMAIL_BACKEND = "accounts.mail.SmtpUtf8EmailBackend"
# A stuck SMTP server fails a delivery attempt after this many seconds without a reply (it is
# retried later).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AI-Gate billing <billing@ai-gate.dev>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Origins (scheme://host[:port]) besides SITE_URL that a portal session's `return_url` ("Back
# to dashboard") may lead to, e.g. the customer dashboard: https://app.ai-gate.dev.
PORTAL_RETURN_ORIGINS = env.list("PORTAL_RETURN_ORIGINS", default=[])

# --- Security (production) ------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# The customers' pages (portal/security.py); the admin and the stand-in's pages are exempt.
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
)
CSP_EXEMPT_PREFIXES = ("/admin/", "/api/docs/")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Django REST framework and OpenAPI ------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.ServiceKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI-Gate billing API",
    "DESCRIPTION": "Session metering, quotas and usage for the AI-Gate WebRTC proxy.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Metering -------------------------------------------------------------------------------
# A session that never reports its end stops holding a concurrency slot after this long.
SESSION_STALE_AFTER = env.int("SESSION_STALE_AFTER_SECONDS", default=4 * 3600)
RATE_LIMITS_ENABLED = env.bool("RATE_LIMITS_ENABLED", default=True)
# A service key read from the database is trusted this long by each worker process: a key
# revoked in the admin stops working everywhere within this many seconds (0: check each time).
SERVICE_KEY_CACHE_SECONDS = env.int("SERVICE_KEY_CACHE_SECONDS", default=5)
MINUTES_PER_SESSION = env.float("MINUTES_PER_SESSION", default=2.0)
GRANDFATHER_MONTHS = env.int("GRANDFATHER_MONTHS", default=3)

# --- Stripe (dj-stripe 2.11) ----------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# The shape dj-stripe accepts (djstripe.models.api.API_KEY_REGEX): any other key would be taken
# here and then fail every webhook with InvalidStripeAPIKey.
if STRIPE_SECRET_KEY and not re.fullmatch(
    r"(sk|rk)_(test|live)_[a-zA-Z0-9]{24,}", STRIPE_SECRET_KEY
):
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is not a Stripe secret key: expected sk_test_…, sk_live_… or a "
        "restricted rk_test_…/rk_live_… key, then at least 24 letters and digits (copy it "
        "from the Stripe dashboard, Developers → API keys)."
    )
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
if STRIPE_LIVE_MODE and DEBUG:
    # A live key is production: DEBUG there shows tracebacks and settings to anyone.
    raise ImproperlyConfigured(
        "DEBUG is on with a live Stripe key (production). Set DEBUG=false, or use an sk_test_ "
        "key on a development machine."
    )
STRIPE_TEST_SECRET_KEY = "" if STRIPE_LIVE_MODE else STRIPE_SECRET_KEY
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# The `we_…` id of the endpoint registered at Stripe for /webhooks/stripe (names the local
# dj-stripe WebhookEndpoint row that holds STRIPE_WEBHOOK_SECRET).
STRIPE_WEBHOOK_ENDPOINT_ID = env.str("STRIPE_WEBHOOK_ENDPOINT_ID", default="we_portal_from_env")
STRIPE_PRICE_STARTER = env.str("STRIPE_PRICE_STARTER", default="")
STRIPE_PRICE_GROWTH = env.str("STRIPE_PRICE_GROWTH", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
if STRIPE_API_BASE and STRIPE_LIVE_MODE:
    raise ImproperlyConfigured(
        "STRIPE_API_BASE points Stripe calls at a stand-in; it is refused with a live key. "
        "Unset STRIPE_API_BASE or use an sk_test_ key."
    )
STRIPE_API_VERSION = "2026-05-27.dahlia"
# Our calls to Stripe a second, across workers when the cache is shared (Redis): below
# Stripe's own limits (about 25/s in test mode, 100/s live). 0: no pacing.
STRIPE_CALLS_PER_SECOND = env.int("STRIPE_CALLS_PER_SECOND", default=20)
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_SUBSCRIBER_MODEL = "accounts.Customer"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
# A Stripe event is a few KB; a larger body at /webhooks/stripe is refused (413) unread.
STRIPE_WEBHOOK_MAX_BYTES = env.int("STRIPE_WEBHOOK_MAX_BYTES", default=256 * 1024)
# dj-stripe's migrations take 70-90 s of CPU on an empty database (0002_2_10 replays 500+
# RemoveField operations), so djstripe migrates from our squash of them instead (same schema,
# a few seconds; see config/djstripe_migrations/__init__.py). Databases that applied the three
# upstream migrations treat the squash (it `replaces` them) as applied: nothing runs again.
# DJSTRIPE_UPSTREAM_MIGRATIONS=true goes back to dj-stripe's own migrations (CI compares both
# schemas with .ci/djstripe_squash_check.py).
MIGRATION_MODULES = (
    {}
    if env.bool("DJSTRIPE_UPSTREAM_MIGRATIONS", default=False)
    else {"djstripe": "config.djstripe_migrations"}
)

# --- The admin (django-unfold): the dashboard first, our models in the sidebar, dj-stripe's
# mirror in one collapsed group (config/admin_site.py). Every asset is served from here.
UNFOLD = {
    "SITE_TITLE": "AI-Gate billing",
    "SITE_HEADER": "AI-Gate billing",
    "SITE_URL": "/",
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "migration.admin.dashboard.dashboard_callback",
    "STYLES": [lambda request: static("css/admin.css")],
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "config.admin_site.sidebar_navigation",
    },
}

# --- Logging: one JSON object per line on stdout --------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},
    },
}
