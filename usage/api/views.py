"""The usage API. Views validate input, call a service or selector, and shape the answer."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Plan
from api.auth import IsService, IsServiceOrCustomer, is_service, signed_in_customer
from api.fastlane import ServiceFastLane, json_body
from usage.api.serializers import (
    PlanOutput,
    SessionEndInput,
    SessionOutput,
    SessionStartInput,
    UsageHistoryOutput,
    UsageMonthOutput,
    UsageOutput,
)
from usage.metrics import metrics_text
from usage.ratelimit import rate_limit_begin, rate_limit_check, rate_limit_enforce
from usage.selectors import usage_forecast, usage_history, usage_summary
from usage.services import session_end, session_start

ERROR = OpenApiResponse(description='`{"code": …, "detail": …}`')


# Reads take the customer's user_id (see `_readable_customer_id`).
READ_USER_ID = OpenApiParameter(
    "user_id", str, description="Required with a service key; a signed-in customer may omit it."
)


class UsageView(ServiceFastLane, APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="This month's usage of a customer",
        parameters=[READ_USER_ID],
        responses={200: UsageOutput, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
    )
    def get(self, request):
        return Response(_usage_of(_readable_customer_id(request)))

    def fast_lane(self, request):
        return _usage_of(_service_read_id(request.GET)), status.HTTP_200_OK


def _usage_of(external_id: str) -> dict:
    # Counted as it is read: Redis answers the count while PostgreSQL answers the query.
    counted = rate_limit_begin(subject=external_id)
    try:
        summary = usage_summary(external_id=external_id)
    finally:
        requests_this_minute = counted()
    rate_limit_enforce(count=requests_this_minute, limit=summary.plan.requests_per_minute)
    return UsageOutput.from_summary(
        summary, external_id=external_id, forecast=usage_forecast(summary)
    )


def _readable_customer_id(request) -> str:
    """The `user_id` a read is for: any one for a service key (required), only its own for a
    signed-in customer (who may omit it)."""
    if is_service(request):
        return _service_read_id(request.query_params)
    external_id = request.query_params.get("user_id", "").strip()
    own = signed_in_customer(request)
    if external_id and external_id != own.external_id:
        raise PermissionDenied("A customer may read only its own usage.")
    return own.external_id


def _service_read_id(query) -> str:
    external_id = query.get("user_id", "").strip()
    if not external_id:
        raise ValidationError({"user_id": ["This query parameter is required."]})
    return external_id


class UsageHistoryView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="The 12 most recent calendar months of a customer's usage, newest first",
        parameters=[READ_USER_ID],
        responses={200: UsageHistoryOutput, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
    )
    def get(self, request):
        external_id = _readable_customer_id(request)
        months = usage_history(external_id=external_id)
        rate_limit_check(subject=external_id, limit=_requests_per_minute(external_id))
        return Response({"months": [UsageMonthOutput.payload(month) for month in months]})


def _requests_per_minute(external_id: str) -> int:
    plan = Plan.objects.filter(customers__external_id=external_id).first() or Plan.objects.get(
        code="free"
    )
    return plan.requests_per_minute


class SessionStartView(ServiceFastLane, APIView):
    permission_classes = [IsService]
    fast_lane_method = "POST"

    @extend_schema(
        summary="Report a session start (idempotent on session_id)",
        request=SessionStartInput,
        responses={
            201: SessionOutput,
            200: OpenApiResponse(SessionOutput, description="Already recorded; nothing counted"),
            400: ERROR,
            401: ERROR,
            402: ERROR,
            403: ERROR,
            409: ERROR,
            429: ERROR,
        },
    )
    def post(self, request):
        return Response(*_started(request.data))

    def fast_lane(self, request):
        return _started(json_body(request))


def _started(data) -> tuple[dict, int]:
    fields = SessionStartInput.validated(data)
    result = session_start(
        session_id=fields["session_id"],
        external_id=fields["user_id"],
        project_id=fields["project_id"],
        email=fields["email"],
    )
    created = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return SessionOutput.payload(result.session), created


class SessionEndView(ServiceFastLane, APIView):
    permission_classes = [IsService]
    fast_lane_method = "POST"

    @extend_schema(
        summary="Report a session end (a repeat changes nothing)",
        request=SessionEndInput,
        responses={200: SessionOutput, 400: ERROR, 401: ERROR, 404: ERROR},
    )
    def post(self, request, session_id: str):
        return Response(*_ended(session_id, request.data))

    def fast_lane(self, request):
        return _ended(self.kwargs["session_id"], json_body(request))


def _ended(session_id: str, data) -> tuple[dict, int]:
    session_id = session_id.strip()  # as the start stored it (its serializer trims)
    # Ends are never rate-limited: refusing one would keep a concurrency slot held.
    result = session_end(session_id=session_id, **SessionEndInput.validated(data))
    return SessionOutput.payload(result.session), status.HTTP_200_OK


class PlanListView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="The plan catalogue with every figure", responses=PlanOutput(many=True))
    def get(self, request):
        plans = Plan.objects.select_related("migrates_to").order_by("is_legacy", "sort_order")
        return Response(PlanOutput(plans, many=True).data)


class MetricsView(APIView):
    permission_classes = [IsService]

    @extend_schema(
        summary="Operational figures in Prometheus' text format",
        responses={(200, "text/plain"): str, 401: ERROR},
    )
    def get(self, request):
        return HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4")
