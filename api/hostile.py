"""Hostile input stops at the door with a 4xx JSON `{"code", "detail"}`, never a 500: a body
over the size limit, a URL holding text no database column can hold (a NUL character, an
unpaired UTF-16 surrogate). JSON bodies are checked by `api.parsers.StrictJSONParser`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views.defaults import bad_request

from api.errors import API_PREFIXES
from api.parsers import unstorable


class HostileInputMiddleware(MiddlewareMixin):
    """Under the API's paths: 413 for a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (before it is
    read), 400 for a path or query string holding a NUL or an unpaired surrogate."""

    def process_request(self, request) -> JsonResponse | None:
        if request.path.startswith(API_PREFIXES):
            return self._refused(request)
        return None

    def _refused(self, request) -> JsonResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if limit is not None and (not declared.isdigit() or int(declared) > limit):
            return body_too_large()
        if unstorable(request.path) or any(
            unstorable(key) or unstorable(value)
            for key, values in request.GET.lists()
            for value in values
        ):
            return JsonResponse(
                {
                    "code": "invalid",
                    "detail": "The URL holds a NUL character or an unpaired surrogate, which "
                    "no parameter accepts.",
                },
                status=400,
            )
        return None


def body_too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse(
        {"code": "too_large", "detail": f"The request body is over the {limit:,}-byte limit."},
        status=413,
    )


def json_bad_request(request, exception=None):
    """handler400: JSON under the API's paths (413 for a body found too large while read)."""
    if not request.path.startswith(API_PREFIXES):
        return bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return body_too_large()
    return JsonResponse({"code": "bad_request", "detail": "The request was malformed."}, status=400)
