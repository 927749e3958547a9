"""The floor's two views, at the real paths so that the same wrk scripts drive them."""

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

# A session start's SQL work: count it against the month's counter and record the session.
_START_SQL = """
    WITH reserved AS (
        UPDATE floor_monthlyusage SET total_sessions = total_sessions + 1, updated_at = %s
        WHERE customer_id = (SELECT id FROM floor_customer WHERE external_id = %s)
            AND period = %s
        RETURNING customer_id, total_sessions - failed_sessions AS used
    )
    INSERT INTO floor_session (session_id, customer_id, period, status, started_at)
    SELECT %s, customer_id, %s, 'active', %s FROM reserved
    RETURNING id, (SELECT used FROM reserved)
"""
# A usage read's one query: customer, plan and this month's counters.
_READ_SQL = """
    SELECT c.external_id, p.code, p.included_sessions, p.included_minutes,
        u.total_sessions, u.failed_sessions, u.billable_minutes
    FROM floor_customer c
    JOIN floor_plan p ON p.id = c.plan_id
    LEFT JOIN floor_monthlyusage u ON u.customer_id = c.id AND u.period = %s
    WHERE c.external_id = %s
"""


# The rate-limited floor only: the app's own rate-limit count, as its hot paths make it.
if settings.FLOOR_RATE_LIMITED:
    from usage.ratelimit import rate_limit_count
else:
    rate_limit_count = None


def counted(user_id: str) -> None:
    if rate_limit_count is not None:
        rate_limit_count(subject=user_id)


class Start(APIView):
    def post(self, request):
        counted(request.data["user_id"])
        now = timezone.now()
        period = now.date().replace(day=1)
        with connection.cursor() as cursor:
            cursor.execute(
                _START_SQL,
                [now, request.data["user_id"], period, request.data["session_id"], period, now],
            )
            row = cursor.fetchone()
        if row is None:
            return Response({"code": "not_counted"}, status=409)
        return Response({"id": row[0], "sessionsUsed": row[1]}, status=201)


class Read(APIView):
    def get(self, request):
        counted(request.query_params["user_id"])
        period = timezone.now().date().replace(day=1)
        with connection.cursor() as cursor:
            cursor.execute(_READ_SQL, [period, request.query_params["user_id"]])
            row = cursor.fetchone()
        if row is None:
            return Response({"code": "not_found"}, status=404)
        user_id, plan, sessions, minutes, total, failed, billable = row
        return Response(
            {
                "userId": user_id,
                "plan": plan,
                "included": sessions or minutes,
                "sessionsUsed": (total or 0) - (failed or 0),
                "minutesUsed": str(billable or 0),
            }
        )


def healthz(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/v1/sessions", Start.as_view()),
    path("billing/usage", Read.as_view()),
    path("healthz", healthz),
]
