"""The bottom layer's scheduled jobs (registered when the app is ready)."""

from datetime import time, timedelta

from accounts.jobs import recover_background_jobs
from accounts.schedule import scheduled
from accounts.services.notifications import recover_email_outbox
from accounts.services.scheduled_plan import scheduled_plan_changes_apply
from accounts.services.sign_in import purge_sign_in_links

scheduled("email-outbox-recovery", recover_email_outbox, every=timedelta(minutes=1))
scheduled("background-job-recovery", recover_background_jobs, every=timedelta(minutes=1))
scheduled("sign-in-links-purge", purge_sign_in_links, at=time(4, 0))
# Plan changes staff or customers asked for at the end of the paid period.
scheduled("scheduled-plan-changes", scheduled_plan_changes_apply, every=timedelta(minutes=5))
