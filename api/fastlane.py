"""A short way through DRF for the metering API's hottest requests (issue 14).

DRF's dispatch (wrapping the request, negotiating the content, building authenticator,
permission and parser objects, finalising the response) costs about a fifth of a session
start's CPU (bench/profile_paths.py). A view with `ServiceFastLane` answers the plain case
itself: a valid service key, JSON in and out, the view's one method. It answers what DRF
would: the same renderer, status and headers (tests/usage/test_fast_lane.py compares the two,
error cases included).

Everything else goes through DRF as before, before the fast lane has done anything: no key or
a bad one, another method, an Accept header other than none, `*/*` or `application/json`,
`?format=`, a body that is not a JSON document. An exception raised once the work has begun (a
field error, a limit refused) is raised again inside DRF's own dispatch, once it has
authenticated the request and checked its permissions, so that DRF's exception handler words
it as always and nothing is done twice.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer

from api.parsers import StrictJSONParser
from api.service_keys import service_key_authenticate

_RENDERER = JSONRenderer()
_PARSER = StrictJSONParser()
_PLAIN_ACCEPT = frozenset({None, "*/*", "application/json"})


def _takes_the_fast_lane(request, method: str) -> bool:
    if request.method != method:
        return False
    meta = request.META
    if meta.get("HTTP_ACCEPT") not in _PLAIN_ACCEPT or "format" in request.GET:
        return False
    if method == "POST" and (
        meta.get("CONTENT_TYPE") != "application/json"
        or meta.get("CONTENT_LENGTH") in {None, "", "0"}
    ):
        return False
    scheme, _, raw_key = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and service_key_authenticate(raw_key.strip()) is not None


def json_body(request):
    """The request's JSON document, read as DRF's parser (`StrictJSONParser`) reads it."""
    encoding = request.encoding or settings.DEFAULT_CHARSET
    return _PARSER.parse(BytesIO(request.body), "application/json", {"encoding": encoding})


class ServiceFastLane:
    """For an APIView whose only renderer is JSON: `fast_lane(request)` returns `(data, status)`
    for a plain service-key request of `fast_lane_method`."""

    fast_lane_method = "GET"

    def fast_lane(self, request) -> tuple[object, int]:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if self.renderer_classes == [JSONRenderer] and _takes_the_fast_lane(
            request, self.fast_lane_method
        ):
            try:
                data, status = self.fast_lane(request)
            except Exception as error:  # worded by DRF's own dispatch, below
                request.fast_lane_error = error
            else:
                response = HttpResponse(
                    _RENDERER.render(data), content_type=_RENDERER.media_type, status=status
                )
                response["Allow"] = ", ".join(self.allowed_methods)
                return response
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        error = getattr(request._request, "fast_lane_error", None)
        if error is not None:
            del request._request.fast_lane_error
            raise error
