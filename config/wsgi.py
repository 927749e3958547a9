"""The WSGI application gunicorn serves (`config.wsgi:application`): one Django, two middleware
chains.

A request to the metering API's hot paths that carries a service key (`Authorization: Bearer
…`) goes through `API_MIDDLEWARE`: the middleware such a request has any use for. It never
has a session, a CSRF token, messages or a static file to serve, and is never a sign-in, so
the session, authentication, CSRF, messages, static-file and sign-in-throttling middleware
have nothing to do for it; DRF authenticates the key itself and answers 401 when it is bad.
Every other request, those paths signed in as a customer included, goes through the full
`MIDDLEWARE`. Same URLs, views, signals and error handlers; tests/config/test_wsgi_chains.py
checks that both chains give the same answers. About a tenth of a hot request's time (issue
14, bench/profile_paths.py).

On the short chain, the plain requests to the hottest paths (a usage read, a session start
and end) are answered by `api.fastlane.ServiceLane` inside Django's handler, without the chain's
nesting, URL resolution or DRF's dispatch: about a quarter of a usage read's CPU.
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The metering API's hot paths (usage/urls.py): DRF views that authenticate service keys.
SERVICE_KEY_PATHS = frozenset({"/billing/usage", "/billing/usage/history", "/api/v1/sessions"})
SERVICE_KEY_PREFIXES = ("/api/v1/sessions/",)


def takes_the_api_chain(environ: dict) -> bool:
    path = environ.get("PATH_INFO", "")
    if path not in SERVICE_KEY_PATHS and not path.startswith(SERVICE_KEY_PREFIXES):
        return False
    scheme, _, _ = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer"


class APIHandler(WSGIHandler):
    """Django's WSGI handler with `API_MIDDLEWARE` for its middleware chain, and the service
    lane in front of the chain (None, and every request takes the chain, when a middleware is
    one the lane cannot run step by step)."""

    lane = None

    def load_middleware(self, is_async=False):
        # Django builds the chain from settings.MIDDLEWARE; this runs once, at start-up, before
        # any request is served.
        full_chain = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full_chain
        from api.fastlane import ServiceLane  # needs the apps loaded, as this handler does

        self.lane = ServiceLane.build(
            settings.API_MIDDLEWARE, sorted(SERVICE_KEY_PATHS), SERVICE_KEY_PREFIXES
        )

    def get_response(self, request):
        if self.lane is not None:
            response = self.lane.answer(request)
            if response is not None:
                return response
        return super().get_response(request)


django_application = get_wsgi_application()
api_application = APIHandler()


def application(environ, start_response):
    if takes_the_api_chain(environ):
        return api_application(environ, start_response)
    return django_application(environ, start_response)
