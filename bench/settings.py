"""Benchmark settings: the production settings, with tables built straight from the models.

Building the schema with `migrate --run-syncdb` takes seconds instead of dj-stripe's 90 s of
migrations; the schema is the same (CI proves the migrations match the models).
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}
