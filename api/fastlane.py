"""A short way through Django and DRF for the metering API's hottest requests (issue 14).

Django's middleware chain, URL resolution and DRF's dispatch (wrapping the request,
negotiating the content, building authenticator, permission and parser objects, finalising
the response) cost about a quarter of a usage read's CPU, more than its query
(bench/profile_paths.py). `ServiceLane` answers the plain case without them, from inside
Django's own WSGI handler (config/wsgi.py): Django still builds the request and the response,
sends `request_started` and `request_finished` and closes what the request opened. For a
plain request to a view with `ServiceFastLane` (a valid service key, JSON in and out, the
view's one method), the lane runs the short middleware chain's own `process_request` and
`process_response` methods around the view's `fast_lane` and answers what the chain and DRF
would: the same status, headers and body (tests/usage/test_fast_lane.py compares the two,
error cases included).

Everything else goes through the chain and DRF as before, before the lane has done anything:
no key or a bad one, another method or path, an Accept header other than none, `*/*` or
`application/json`, `?format=`, a body that is not a JSON document, and whatever a middleware
would answer itself (a host not allowed, a redirect to HTTPS, a hostile URL). An exception
raised once the work has begun (a field error, a limit refused) is raised again inside DRF's
own dispatch, once it has authenticated the request and checked its permissions, so that
DRF's exception handler words it as always and nothing is done twice.

The lane stands in for the chain only while every middleware in it is one the lane can run
step by step (`MiddlewareMixin`'s `process_request` and `process_response`, nothing else);
with any other, it is off and every request takes the chain (`ServiceLane.build` returns None).
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse
from django.urls import Resolver404, resolve, set_urlconf
from django.utils.deprecation import MiddlewareMixin
from django.utils.log import log_response
from django.utils.module_loading import import_string
from rest_framework.renderers import JSONRenderer

from api.auth import IsService, IsServiceOrCustomer
from api.parsers import StrictJSONParser
from api.service_keys import service_key_authenticate

_RENDERER = JSONRenderer()
_PARSER = StrictJSONParser()
_PLAIN_ACCEPT = frozenset({None, "*/*", "application/json"})
_ADMIT_EVERY_SERVICE_KEY = (IsService, IsServiceOrCustomer)
# What a middleware may have for the lane to run it step by step, as MiddlewareMixin does.
_STEPWISE_ONLY = ("process_view", "process_exception", "process_template_response")


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
    """For an APIView: `fast_lane(request)` returns `(data, status)` for a plain service-key
    request of `fast_lane_method`; `ServiceLane` calls it (see `ServiceLane.takes`)."""

    fast_lane_method = "GET"

    def fast_lane(self, request) -> tuple[object, int]:
        raise NotImplementedError

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        error = getattr(request._request, "fast_lane_error", None)
        if error is not None:
            del request._request.fast_lane_error
            raise error


class ServiceLane:
    """The plain requests to `paths` whose views have `ServiceFastLane`, answered around
    `middleware`'s steps (a list of dotted paths, as settings.MIDDLEWARE)."""

    def __init__(self, middleware: list, paths, prefixes=()) -> None:
        self._before = [
            item.process_request for item in middleware if hasattr(item, "process_request")
        ]
        self._after = [
            item.process_response
            for item in reversed(middleware)
            if hasattr(item, "process_response")
        ]
        self._paths = tuple(paths)
        self._prefixes = tuple(prefixes)
        self._routes: dict[tuple[str, str], type] | None = None

    @classmethod
    def build(cls, middleware_paths: list[str], paths, prefixes=()) -> ServiceLane | None:
        """The lane, or None when a middleware is one it cannot run step by step."""
        middleware = []
        for dotted in middleware_paths:
            middleware_class = import_string(dotted)
            if not _stepwise(middleware_class):
                return None
            try:
                middleware.append(middleware_class(_never_called))
            except MiddlewareNotUsed:
                continue
        return cls(middleware, paths, prefixes)

    @property
    def routes(self) -> dict[tuple[str, str], type]:
        """(method, path) -> view class, for the exact paths whose views have a fast lane;
        read from the URLconf on first use (it is not loaded yet when the WSGI application is
        built). Paths under `prefixes` hold a parameter and are resolved on each request."""
        if self._routes is None:
            routes = {}
            for path in self._paths:
                try:
                    view_class = getattr(resolve(path).func, "view_class", None)
                except Resolver404:
                    continue
                if self.takes(view_class):
                    routes[(view_class.fast_lane_method, path)] = view_class
            self._routes = routes
        return self._routes

    @staticmethod
    def takes(view_class) -> bool:
        """Whether the lane may answer for `view_class`: a view with a fast lane, whose only
        renderer is JSON, with no throttle, and whose permissions admit every valid service
        key, so that DRF's dispatch would have nothing more to check for such a request."""
        return (
            isinstance(view_class, type)
            and issubclass(view_class, ServiceFastLane)
            and view_class.renderer_classes == [JSONRenderer]
            and not view_class.throttle_classes
            and all(rule in _ADMIT_EVERY_SERVICE_KEY for rule in view_class.permission_classes)
        )

    def answer(self, request) -> HttpResponse | None:
        """The response to a plain request, or None: the chain and DRF answer it (and raise
        again the error the lane left in `request.fast_lane_error`, if any)."""
        set_urlconf(settings.ROOT_URLCONF)  # as BaseHandler.get_response
        route = self._route(request)
        if route is None or not self._plain(request, route[0]):
            return None
        view_class, args, kwargs = route
        view = view_class()
        view.setup(request, *args, **kwargs)  # as the view function `as_view()` makes
        try:
            data, status = view.fast_lane(request)
            response = HttpResponse(
                _RENDERER.render(data), content_type=_RENDERER.media_type, status=status
            )
        except Exception as error:  # worded by DRF's own dispatch (ServiceFastLane.initial)
            request.fast_lane_error = error
            return None
        response["Allow"] = ", ".join(view.allowed_methods)
        try:
            for process_response in self._after:
                response = process_response(request, response)
        except Exception as error:  # as the chain's convert_exception_to_response answers it
            response = response_for_exception(request, error)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response

    def _route(self, request) -> tuple[type, tuple, dict] | None:
        path = request.path_info
        view_class = self.routes.get((request.method, path))
        if view_class is not None:
            return view_class, (), {}
        if not path.startswith(self._prefixes):
            return None
        try:
            match = resolve(path)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        if not self.takes(view_class) or view_class.fast_lane_method != request.method:
            return None
        return view_class, match.args, match.kwargs

    def _plain(self, request, view_class) -> bool:
        try:
            for process_request in self._before:
                if process_request(request) is not None:
                    return False  # a redirect, a refusal: the chain gives it
            return _takes_the_fast_lane(request, view_class.fast_lane_method)
        except Exception:  # a host not allowed, say: whatever the chain makes of it, it does
            return False


def _stepwise(middleware_class) -> bool:
    return (
        isinstance(middleware_class, type)
        and issubclass(middleware_class, MiddlewareMixin)
        and middleware_class.__call__ is MiddlewareMixin.__call__
        and not any(hasattr(middleware_class, name) for name in _STEPWISE_ONLY)
    )


def _never_called(request):  # MiddlewareMixin needs a get_response; the lane calls the steps
    raise AssertionError("ServiceLane runs a middleware's steps, not the middleware")
