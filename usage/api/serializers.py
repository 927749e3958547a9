from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.estimates import estimated_minutes
from accounts.fields import InternationalEmailSerializerField
from accounts.models import Plan
from accounts.validators import validate_international_email
from usage.models import Session, SessionStatus
from usage.selectors import Forecast, UsageMonth, UsageSummary

PROJECT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
_PROJECT_ID = re.compile(PROJECT_ID_PATTERN)
_EMAIL = validate_international_email


class SessionStartInput(serializers.Serializer):
    session_id = serializers.CharField(max_length=255)
    user_id = serializers.CharField(max_length=255)
    project_id = serializers.RegexField(
        PROJECT_ID_PATTERN,
        max_length=128,
        required=False,
        default="default",
        error_messages={"invalid": "Use letters, digits and _ . : - only."},
    )
    email = InternationalEmailSerializerField(required=False, allow_blank=True, default="")

    @classmethod
    def validated(cls, data) -> dict:
        """The validated fields, or ValidationError with field errors.

        The proxy's well-formed bodies are checked directly (the same rules as the fields
        above); anything else goes through the serializer, which words the errors. Building
        the serializer's fields cost a tenth of a session start.
        """
        fast = cls._plain(data)
        if fast is not None:
            return fast
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @staticmethod
    def _plain(data) -> dict | None:
        if not isinstance(data, dict) or not set(data) <= {
            "session_id",
            "user_id",
            "project_id",
            "email",
        }:
            return None
        values = {}
        for name, limit in (("session_id", 255), ("user_id", 255), ("project_id", 128)):
            value = data.get(name, "default" if name == "project_id" else None)
            if not isinstance(value, str):
                return None
            value = value.strip()
            if not value or len(value) > limit or "\x00" in value:
                return None
            values[name] = value
        if not _PROJECT_ID.search(values["project_id"]):
            return None
        email = data.get("email", "")
        if not isinstance(email, str):
            return None
        email = email.strip()
        if email:
            try:
                _EMAIL(email)
            except DjangoValidationError:
                return None
        values["email"] = email
        return values


class SessionEndInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=[SessionStatus.SUCCEEDED, SessionStatus.FAILED])
    minutes = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, max_value=100000
    )

    @classmethod
    def validated(cls, data) -> dict:
        """The validated fields, or ValidationError with field errors.

        A body of exactly the two fields is checked by the two fields above, without
        building the serializer (a copy of its fields each time: a tenth of an end's CPU);
        anything else, or a value they refuse, goes through the serializer, which words the
        errors."""
        if isinstance(data, dict) and data.keys() == {"status", "minutes"}:
            fields = cls._declared_fields
            try:
                return {name: fields[name].run_validation(data[name]) for name in data}
            except serializers.ValidationError:
                pass
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class SessionOutput(serializers.Serializer):
    """A session as the API shows it. `payload()` builds it directly: on the session start
    path a serializer's field machinery cost a quarter of the request."""

    sessionId = serializers.CharField()
    userId = serializers.CharField()
    projectId = serializers.CharField()
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    startedAt = serializers.DateTimeField()
    endedAt = serializers.DateTimeField(allow_null=True)
    minutes = serializers.FloatField(allow_null=True)
    period = serializers.CharField(help_text="The billing month it counts in, YYYY-MM.")

    @staticmethod
    def payload(session: Session) -> dict:
        return {
            "sessionId": session.session_id,
            "userId": session.customer.external_id,
            "projectId": session.project.project_id,
            "status": session.status,
            "startedAt": _timestamp(session.started_at),
            "endedAt": _timestamp(session.ended_at),
            "minutes": _number(session.minutes),
            "period": session.period.strftime("%Y-%m"),
        }


def _timestamp(value):
    """ISO 8601 in UTC with a Z, as DRF's DateTimeField writes it."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class ForecastOutput(serializers.Serializer):
    projected = serializers.IntegerField(
        help_text="Use by the month's end at this month's pace, in the plan's unit."
    )
    exhaustsOn = serializers.DateField(
        allow_null=True, help_text="The day the quota runs out at that pace; null if it won't."
    )


class UsageOutput(serializers.Serializer):
    """The seed's keys exactly, then extras for the dashboard."""

    plan = serializers.CharField()
    sessionsIncluded = serializers.IntegerField(allow_null=True)
    sessionsUsed = serializers.IntegerField()
    sessionsRemaining = serializers.IntegerField(allow_null=True)
    estimatedMinutes = serializers.IntegerField()
    minutesUsed = serializers.FloatField()
    percentUsed = serializers.IntegerField()
    # Extras
    userId = serializers.CharField(allow_null=True)
    planName = serializers.CharField()
    billingUnit = serializers.CharField()
    minutesIncluded = serializers.IntegerField(allow_null=True)
    minutesRemaining = serializers.FloatField(allow_null=True)
    minutesCounted = serializers.FloatField(
        help_text="The minutes a minute quota counts: those of sessions that did not fail."
    )
    successfulSessions = serializers.IntegerField()
    failedSessions = serializers.IntegerField()
    status = serializers.CharField()
    period = serializers.DictField()
    grandfatheredUntil = serializers.DateTimeField(allow_null=True)
    nextPlan = serializers.CharField(allow_null=True)
    forecast = ForecastOutput()

    @staticmethod
    def from_summary(summary: UsageSummary, *, external_id: str, forecast: Forecast) -> dict:
        plan, customer = summary.plan, summary.customer
        minutes_plan = plan.bills_minutes
        return {
            "plan": plan.code,
            "sessionsIncluded": plan.included_sessions,
            "sessionsUsed": summary.sessions_used,
            "sessionsRemaining": summary.sessions_remaining,
            "estimatedMinutes": estimated_minutes(plan, summary.minutes_per_session),
            "minutesUsed": _number(summary.total_minutes),
            "percentUsed": summary.percent_used,
            "userId": external_id,
            "planName": plan.public_name,
            "billingUnit": plan.billing_unit,
            "minutesIncluded": plan.included_minutes if minutes_plan else None,
            "minutesRemaining": _number(summary.minutes_remaining) if minutes_plan else None,
            "minutesCounted": _number(summary.billable_minutes),
            "successfulSessions": summary.successful_sessions,
            "failedSessions": summary.failed_sessions,
            "status": customer.status if customer else "active",
            "period": {
                "month": summary.period.label,
                "start": summary.period.start.isoformat(),
                "end": summary.period.end.isoformat(),
            },
            "grandfatheredUntil": customer.grandfathered_until if customer else None,
            "nextPlan": customer.grandfather_plan.code
            if customer and customer.grandfather_plan
            else None,
            "forecast": {
                "projected": forecast.projected,
                "exhaustsOn": forecast.exhausts_on.isoformat() if forecast.exhausts_on else None,
            },
        }


class UsageMonthOutput(serializers.Serializer):
    month = serializers.CharField(help_text="The calendar month (UTC), e.g. 2026-11.")
    sessionsUsed = serializers.IntegerField(help_text="Sessions that did not fail.")
    minutesUsed = serializers.FloatField(
        help_text="Minutes of the sessions that did not fail (what a minute quota counts)."
    )
    included = serializers.IntegerField(help_text="The quota of the plan that month.")
    unit = serializers.ChoiceField(choices=["sessions", "minutes"])

    @staticmethod
    def payload(month: UsageMonth) -> dict:
        return {
            "month": month.month,
            "sessionsUsed": month.sessions_used,
            "minutesUsed": _number(month.minutes_used),
            "included": month.included,
            "unit": month.unit,
        }


class UsageHistoryOutput(serializers.Serializer):
    months = UsageMonthOutput(many=True)


def _number(value):
    """Minutes as a JSON number: whole numbers stay integers."""
    if value is None:
        return None
    return int(value) if value == int(value) else float(value)


class PlanOutput(serializers.ModelSerializer):
    migratesTo = serializers.SlugRelatedField(
        source="migrates_to", slug_field="code", read_only=True, allow_null=True
    )
    billingUnit = serializers.CharField(source="billing_unit")
    # A minute-billed legacy plan has no session quota: null, as the schema says.
    sessionsIncluded = serializers.IntegerField(source="included_sessions", allow_null=True)
    estimatedMinutes = serializers.SerializerMethodField(
        help_text="Minute plan: its minute quota; session plan: sessions times minutes per session."
    )
    priceCents = serializers.IntegerField(source="price_cents")
    requestsPerMinute = serializers.IntegerField(source="requests_per_minute")
    concurrentSessions = serializers.IntegerField(source="max_concurrent_sessions")
    projects = serializers.IntegerField(source="max_projects")
    isPublic = serializers.BooleanField(source="is_public")
    isLegacy = serializers.BooleanField(source="is_legacy")

    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "billingUnit",
            "sessionsIncluded",
            "estimatedMinutes",
            "priceCents",
            "currency",
            "requestsPerMinute",
            "concurrentSessions",
            "projects",
            "badge",
            "support",
            "sla",
            "isPublic",
            "isLegacy",
            "migratesTo",
        ]

    def get_estimatedMinutes(self, plan: Plan) -> int:
        return estimated_minutes(plan)
