"""What a customer's admin page shows below its fields: this month's usage, the last 12 months,
the Stripe subscription and its invoices (each linked to Stripe's dashboard), the e-mails sent
and the plan history in words ("Starter → Growth · by alice · 3 Dec 2026 · goodwill").

Read-only sections, for CustomerAdmin; every figure is formatted by `accounts.formatting`."""

from __future__ import annotations

from datetime import date

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin.readonly import computed_once
from accounts.formatting import count, day, moment, money
from accounts.models import Customer
from accounts.periods import period_of
from billing.selectors import customer_invoices, customer_subscription, stripe_dashboard_url
from usage.selectors import usage_history_for, usage_summary_for

EMAILS_SHOWN = 20
CHANGES_SHOWN = 50

SECTIONS = [
    ("This month", ["usage_now"]),
    ("The last 12 months", ["usage_months"]),
    ("Subscription and invoices", ["subscription", "invoices"]),
    ("E-mails sent", ["emails_sent"]),
    ("Plan history", ["plan_history"]),
]


def _table(headers: list[str], rows: list[tuple], empty: str):
    if not rows:
        return format_html('<span class="console-subtle">{}</span>', empty)
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    cells = "".join(
        format_html("<tr>{}</tr>", format_html_join("", "<td>{}</td>", ((cell,) for cell in row)))
        for row in rows
    )
    return format_html(
        '<table class="console-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        mark_safe(cells),  # noqa: S308 (every row went through format_html)
    )


def _unit(unit: str) -> str:
    return "min" if unit == "minutes" else "sessions"


def _bar(percent: int):
    width = min(percent, 100)
    tone = "console-warn" if percent >= 80 else ""
    return format_html(
        '<svg class="console-meter" viewBox="0 0 100 10" preserveAspectRatio="none" '
        'aria-hidden="true"><rect width="100" height="10" class="console-track"></rect>'
        '<rect width="{}" height="10" class="{}"></rect></svg>',
        width,
        tone,
    )


class CustomerPageMixin:
    """For CustomerAdmin: the read-only sections of a customer's page (not of the add form)."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        # Right under who the customer is: what staff come to read.
        sections = [(title, {"fields": fields}) for title, fields in SECTIONS]
        return fieldsets[:1] + sections + fieldsets[1:]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        return readonly + [field for _, fields in SECTIONS for field in fields]

    @admin.display(description="usage")
    @computed_once
    def usage_now(self, customer: Customer):
        summary = usage_summary_for(customer=customer, period=period_of())
        plan = summary.plan
        used = int(summary.used)
        percent = int(used * 100 // plan.quota) if plan.quota else 0
        return format_html(
            "{} / {} {} ({}%) {}<br>"
            '<span class="console-subtle">{} sessions started, {} failed; {} minutes used '
            "(staff only) · {}</span>",
            count(used),
            count(plan.quota),
            _unit(plan.billing_unit),
            percent,
            _bar(percent),
            count(summary.total_sessions),
            count(summary.failed_sessions),
            count(summary.total_minutes),
            summary.period.start.strftime("%B %Y"),
        )

    @admin.display(description="month by month")
    @computed_once
    def usage_months(self, customer: Customer):
        rows = []
        for month in usage_history_for(customer):
            year, number = (int(part) for part in month.month.split("-"))
            used = int(month.minutes_used if month.unit == "minutes" else month.sessions_used)
            percent = int(used * 100 // month.included) if month.included else 0
            rows.append(
                (
                    f"{date(year, number, 1):%b %Y}",
                    f"{count(used)} / {count(month.included)} {_unit(month.unit)}",
                    f"{percent}%",
                    _bar(percent),
                )
            )
        return _table(["month", "used / included", "%", ""], rows, "No usage yet.")

    @admin.display(description="subscription")
    @computed_once
    def subscription(self, customer: Customer):
        view = customer_subscription(customer=customer)
        if view is None:
            return customer.stripe_subscription_id or "No Stripe subscription."
        period = (
            f"{'ends' if view.cancel_at_period_end else 'renews'} {day(view.period_end)}"
            if view.period_end
            else ""
        )
        return format_html(
            '{} · {} · {} {} · <a href="{}" target="_blank" rel="noopener">{} in Stripe ↗</a>',
            view.status or "-",
            customer.plan.name,
            ", ".join(view.price_ids) or "-",
            period,
            stripe_dashboard_url("subscriptions", view.id),
            view.id,
        )

    @admin.display(description="invoices")
    @computed_once
    def invoices(self, customer: Customer):
        rows = [
            (
                invoice.number,
                day(invoice.created),
                money(invoice.total_cents, invoice.currency),
                invoice.status,
                format_html(
                    '<a href="{}" target="_blank" rel="noopener">Open in Stripe ↗</a>',
                    stripe_dashboard_url("invoices", invoice.invoice_id),
                ),
            )
            for invoice in customer_invoices(customer=customer)
        ]
        return _table(["invoice", "date", "amount", "status", ""], rows, "No invoices.")

    @admin.display(description="e-mails")
    @computed_once
    def emails_sent(self, customer: Customer):
        emails = customer.emails.order_by("-created_at", "-id")[:EMAILS_SHOWN]
        rows = [
            (
                format_html(
                    '<a href="{}">{}</a>',
                    reverse("admin:accounts_emailnotification_change", args=[email.pk]),
                    moment(email.sent_at or email.created_at),
                ),
                email.get_kind_display(),
                email.get_status_display(),
                email.to_email,
            )
            for email in emails
        ]
        return _table(["when", "what", "status", "to"], rows, "No e-mails.")

    @admin.display(description="changes")
    @computed_once
    def plan_history(self, customer: Customer):
        changes = customer.plan_changes.select_related("from_plan", "to_plan").order_by(
            "-created_at", "-id"
        )[:CHANGES_SHOWN]
        if not changes:
            return format_html('<span class="console-subtle">{}</span>', "No changes.")
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> <span class="console-subtle">({})</span></li>',
            (
                (
                    reverse("admin:accounts_planchange_change", args=[change.pk]),
                    str(change),
                    change.get_source_display(),
                )
                for change in changes
            ),
        )
        return format_html('<ul class="console-history">{}</ul>', items)
