"""Every API error is JSON `{"code": …, "detail": …}` (plus field errors for bad input)."""

from __future__ import annotations

import functools

from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accounts.errors import BillingError
from api.metrics import REFUSAL_CODES, refusal_count

_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "parse_error",
    exceptions.Throttled: "rate_limited",
}


def billing_error_response(exc: BillingError) -> Response:
    if exc.code in REFUSAL_CODES:
        refusal_count(exc.code)
    body = {"code": exc.code, "detail": exc.detail, **exc.extra}
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        body["retryAfter"] = retry_after
    return Response(body, status=exc.http_status, headers=headers)


def api_exception_handler(exc, context):
    if isinstance(exc, BillingError):
        return billing_error_response(exc)
    if isinstance(exc, Http404):  # DRF answers it as NotFound: word it so (e.g. ?format=xml)
        exc = exceptions.NotFound(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request body has errors; see `errors`.",
            "errors": exc.detail,
        }
        return response
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"code": code, "detail": str(detail)}
    return response


API_PREFIXES = ("/api/", "/billing/", "/webhooks/", "/healthz", "/metrics")


def json_methods(*methods: str):
    """Django's `require_http_methods` for a plain view under the API's paths: another method
    gets the API's JSON 405 (as DRF words it), with `Allow`."""

    def decorator(view):
        @functools.wraps(view)
        def only_these(request, *args, **kwargs):
            if request.method not in methods:
                response = JsonResponse(
                    {
                        "code": "method_not_allowed",
                        "detail": f'Method "{request.method}" not allowed.',
                    },
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return only_these

    return decorator


def json_not_found(request, exception=None):
    """JSON 404 under the API's paths; the ordinary page elsewhere."""
    if not request.path.startswith(API_PREFIXES):
        return page_not_found(request, exception)
    return JsonResponse(
        {"code": "not_found", "detail": f"No endpoint at {request.path}."},
        status=status.HTTP_404_NOT_FOUND,
    )


def json_server_error(request):
    """JSON 500 under the API's paths; the ordinary page elsewhere."""
    if not request.path.startswith(API_PREFIXES):
        return server_error(request)
    return JsonResponse(
        {"code": "server_error", "detail": "Internal error; it has been logged."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
