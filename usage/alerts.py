"""Usage e-mails at 80% and 100% of the month's quota, once per customer and month.

The metering path decides *when* to look (only when a counter may just have reached a level,
so an ordinary start or end costs no extra query); this module decides what to send.
"""

from __future__ import annotations

from decimal import Decimal

from accounts.models import Customer, EmailKind, EmailNotification, Plan
from accounts.periods import Period
from accounts.selectors import public_plans
from accounts.services.notifications import email_send_once

ALERTS = ((80, EmailKind.USAGE_80), (100, EmailKind.USAGE_100))
# The session start's one-statement admission computes the same levels in SQL from these
# (usage/services.py, `_ADMIT_AND_RECORD_SQL`): keep the two formulas alike.
ALERT_PERCENTS = [percent for percent, _ in ALERTS]


def usage_alert_levels(quota: int) -> dict[int, str]:
    """The use (in the plan's unit) at which each alert is due, e.g. {4000: usage_80, 5000:
    usage_100} for 5,000 sessions. 80% is reached when the displayed whole percent is 80."""
    if not quota:
        return {}
    return {(quota * percent + 99) // 100: kind for percent, kind in ALERTS}


def usage_alerts_send(
    *, customer: Customer, plan: Plan, period: Period, used: int | Decimal
) -> EmailNotification | None:
    """Send the highest alert that `used` has reached, unless sent this month already.

    Only the highest: a customer who jumps past both levels at once gets one e-mail.
    """
    reached = [kind for level, kind in usage_alert_levels(plan.quota).items() if used >= level]
    if not reached:
        return None
    kind = reached[-1]
    quota = plan.quota
    return email_send_once(
        customer=customer,
        kind=kind,
        dedupe_key=period.label,
        context={
            "plan": plan,
            "used": int(used),  # whole minutes, rounded down, as the usage page shows them
            "quota": quota,
            # A plan on the pricing page to upgrade to: none past the largest.
            "can_upgrade": plan.bills_minutes
            or public_plans().filter(included_sessions__gt=plan.included_sessions or 0).exists(),
            "unit": "minutes" if plan.bills_minutes else "sessions",
            "percent": min(int(used * 100 // quota), 100),
            "month": period.start,
            "next_month": period.next().start,
        },
    )
