"""The admin of the bottom layer: plans, the audit trail, the e-mail outbox, background jobs.

Customers are registered by `migration.admin`, the layer that can show their usage and the
migration actions beside them.
"""

from accounts.admin import audit, jobs, plans, tasks, users  # noqa: F401
