"""Settings for the test suite: the real settings, with test-only environment defaults."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("STRIPE_SECRET_KEY", "sk_test_" + "T" * 24)
os.environ.setdefault("STRIPE_WEBHOOK_SECRET", "whsec_test_suite_secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("CONN_MAX_AGE", "0")
os.environ.setdefault("DEVTOOLS", "true")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run in-process when the transaction that queued them commits (as a worker would run
# them right after); the tests of workers themselves switch to the database queue.
TASKS = {"default": {"BACKEND": "devtools.tasks.ImmediateOnCommitBackend"}}
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
