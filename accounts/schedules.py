"""The bottom layer's scheduled jobs (registered when the app is ready)."""

from datetime import time, timedelta

from accounts.jobs import recover_background_jobs
from accounts.schedule import scheduled
from accounts.services.notifications import recover_email_outbox
from accounts.services.sign_in import purge_sign_in_links

scheduled("email-outbox-recovery", recover_email_outbox, every=timedelta(minutes=1))
scheduled("background-job-recovery", recover_background_jobs, every=timedelta(minutes=1))
scheduled("sign-in-links-purge", purge_sign_in_links, at=time(4, 0))
