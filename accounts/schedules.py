"""The bottom layer's scheduled jobs (registered when the app is ready)."""

from datetime import timedelta

from accounts.jobs import recover_background_jobs
from accounts.schedule import scheduled
from accounts.services.notifications import recover_email_outbox

scheduled("email-outbox-recovery", recover_email_outbox, every=timedelta(minutes=1))
scheduled("background-job-recovery", recover_background_jobs, every=timedelta(minutes=1))
