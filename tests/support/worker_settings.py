"""Settings of the `db_worker` processes that tests start: the test settings, but tasks go
through the database queue (the test settings run them in-process) and e-mails go to
`EMAIL_URL` over SMTP (the test settings keep them in memory)."""

from config.settings import env
from config.test_settings import *  # noqa: F403

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# What config/settings.py reads from EMAIL_URL, before the test settings replaced the backend.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
