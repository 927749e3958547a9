"""api/fastlane.py's service lane on the hot endpoints, as gunicorn calls the application
(config/wsgi.py): each request the lane answers gets the answer the middleware chain and DRF's
dispatch give (status, headers, body), errors included, and is counted once; whatever a
middleware would answer itself, the chain answers."""

import json
from decimal import Decimal

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils.deprecation import MiddlewareMixin
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.throttling import AnonRateThrottle

from accounts.models import Plan
from api.fastlane import ServiceLane
from config.wsgi import SERVICE_KEY_PATHS, APIHandler, api_application, application
from tests.accounts.factories import CustomerFactory, plan
from tests.support.wsgi import answer, environ
from usage.api.views import SessionEndView, SessionStartView, UsageHistoryView, UsageView
from usage.models import MonthlyUsage, Session
from usage.ratelimit import rate_limit_count

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def test_transaction_kept():
    """Django's handler closes the connection at a request's start and end when it is inside a
    transaction, as each test is: not here, as Django's own test client does."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def lanes(monkeypatch):
    """`lanes.fast` counts the requests the lane answered or began; `lanes.drf()` sends the
    following ones through the middleware chain and DRF's dispatch only."""

    class Lanes:
        fast = 0

        def drf(self):
            monkeypatch.setattr(api_application, "lane", None)

    lanes = Lanes()
    for view in (UsageView, SessionStartView, SessionEndView):
        original = view.fast_lane

        def counted(self, request, original=original):
            lanes.fast += 1
            return original(self, request)

        monkeypatch.setattr(view, "fast_lane", counted)
    return lanes


def read(key: str, query="user_id=alice", **headers):
    return answer(application, environ("GET", "/billing/usage", query=query, key=key, **headers))


def start(key: str, body: str, **headers):
    return answer(
        application, environ("POST", "/api/v1/sessions", body=body.encode(), key=key, **headers)
    )


def end(key: str, session_id: str, body: str):
    path = f"/api/v1/sessions/{session_id}/end"
    return answer(application, environ("POST", path, body=body.encode(), key=key))


@pytest.fixture
def alice(db):
    return CustomerFactory(external_id="alice", plan=plan("growth"))


def test_the_lane_is_on_for_the_hot_paths():
    assert api_application.lane is not None
    assert api_application.lane.routes == {
        ("GET", "/billing/usage"): UsageView,
        ("POST", "/api/v1/sessions"): SessionStartView,
    }


@pytest.mark.parametrize(
    "query", ["user_id=alice", "user_id=nobody", "user_id=%20", "", "user_id=alice&format=json"]
)
def test_reads_answer_as_drf_does(service_key, alice, lanes, query):
    fast = read(service_key, query)
    taken = lanes.fast
    lanes.drf()
    assert read(service_key, query) == fast
    assert taken == (0 if "format" in query else 1)


@pytest.mark.parametrize("accept", ["text/html", "application/json; indent=4", "*/*", None])
def test_other_accept_headers_go_through_drf(service_key, alice, lanes, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    fast = read(service_key, **headers)
    taken = lanes.fast
    lanes.drf()
    assert read(service_key, **headers) == fast
    assert taken == (1 if accept in (None, "*/*") else 0)


def test_a_bad_key_goes_through_drf(alice, lanes):
    status, headers, _ = read("aig_not-a-key")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert lanes.fast == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"user_id": "alice"}', 400),
        ('{"session_id": "s1", "user_id": "alice", "project_id": "no spaces"}', 400),
        ("{not json", 400),
        ('{"session_id": "s\\u0000", "user_id": "alice"}', 400),
        ("[1, 2]", 400),
        ('"text"', 400),
    ],
)
def test_refused_starts_answer_as_drf_does(service_key, alice, lanes, body, status):
    fast = start(service_key, body)
    assert lanes.fast == 1
    lanes.drf()
    assert start(service_key, body) == fast
    assert fast[0] == status
    assert not Session.objects.exists()


def test_a_start_and_its_replay_answer_as_drf_does(service_key, alice, lanes):
    body = '{"session_id": "s1", "user_id": "alice"}'
    created = start(service_key, body)
    replayed = start(service_key, body)
    assert lanes.fast == 2
    lanes.drf()
    replayed_by_drf = start(service_key, body)
    other = start(service_key, '{"session_id": "s2", "user_id": "alice"}')
    assert (created[0], replayed[0]) == (201, 200)
    assert replayed_by_drf == replayed
    assert created[2] == replayed[2]
    assert other[:2] == created[:2]
    assert json.loads(other[2]).keys() == json.loads(created[2]).keys()
    assert MonthlyUsage.objects.get(customer=alice).total_sessions == 2


def test_a_limit_refused_in_the_lane_is_worded_by_drf_and_counted_once(
    service_key, alice, lanes, settings
):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.filter(code="growth").update(included_sessions=1)
    assert start(service_key, '{"session_id": "s1", "user_id": "alice"}')[0] == 201
    refused = start(service_key, '{"session_id": "s2", "user_id": "alice"}')
    assert lanes.fast == 2
    lanes.drf()
    by_drf = start(service_key, '{"session_id": "s3", "user_id": "alice"}')
    assert refused[0] == 402
    assert by_drf[:2] == refused[:2]
    assert json.loads(by_drf[2]) == json.loads(refused[2])
    # Three requests, three counts: the refusal raised again inside DRF was not counted again.
    assert rate_limit_count(subject="alice") == 4
    assert MonthlyUsage.objects.get(customer=alice).total_sessions == 1


def test_rate_limited_reads_answer_as_drf_does(service_key, alice, lanes, settings):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.filter(code="growth").update(requests_per_minute=1)
    assert read(service_key)[0] == 200
    fast = read(service_key)
    lanes.drf()
    by_drf = read(service_key)
    assert fast[0] == by_drf[0] == 429
    assert by_drf[1].keys() == fast[1].keys()
    assert rate_limit_count(subject="alice") == 4


def test_a_request_the_lane_answers_starts_and_finishes_once(service_key, alice):
    seen = []

    def started(**kwargs):
        seen.append("started")

    def finished(**kwargs):
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        read(service_key)
        start(service_key, '{"user_id": "alice"}')  # begun in the lane, answered by DRF
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert seen == ["started", "finished"] * 2


def test_behind_https_the_lane_sends_hsts_as_the_chain_does(service_key, alice, lanes):
    fast = read(service_key, HTTP_X_FORWARDED_PROTO="https")
    lanes.drf()
    assert fast == read(service_key, HTTP_X_FORWARDED_PROTO="https")
    assert fast[1]["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({"HTTP_HOST": "evil.example"}, "user_id=alice", 400),  # not in ALLOWED_HOSTS
        ({}, "user_id=al%00ice", 400),  # refused by HostileInputMiddleware
        ({"CONTENT_LENGTH": "99999999"}, "user_id=alice", 413),
    ],
)
def test_what_a_middleware_answers_the_chain_answers(
    service_key, alice, lanes, headers, query, status
):
    assert read(service_key, query, **headers)[0] == status
    assert lanes.fast == 0


def test_a_redirect_to_https_is_the_chains(service_key, alice, lanes, settings):
    settings.SECURE_SSL_REDIRECT = True
    handler = APIHandler()  # middleware reads its settings once, when the handler is built
    assert handler.lane is not None
    status, headers, _ = answer(
        handler, environ("GET", "/billing/usage", query="user_id=alice", key=service_key)
    )
    assert (status, headers["Location"]) == (301, "https://testserver/billing/usage?user_id=alice")
    assert lanes.fast == 0


def test_head_and_the_other_paths_take_the_chain(service_key, alice, lanes):
    head = answer(
        application, environ("HEAD", "/billing/usage", query="user_id=a", key=service_key)
    )
    history = answer(
        application, environ("GET", "/billing/usage/history", query="user_id=a", key=service_key)
    )
    assert (head[0], history[0]) == (200, 200)
    assert lanes.fast == 0


class _Wrapping:
    """A middleware as Django documents the plain kind: the lane cannot run it step by step."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


class _WithView(MiddlewareMixin):
    def process_view(self, request, view, args, kwargs):
        return None


@pytest.mark.parametrize("extra", [_Wrapping, _WithView])
def test_a_middleware_the_lane_cannot_run_step_by_step_turns_it_off(extra, settings):
    dotted = f"{__name__}.{extra.__name__}"
    assert ServiceLane.build([*settings.API_MIDDLEWARE, dotted], SERVICE_KEY_PATHS) is None
    assert ServiceLane.build(settings.API_MIDDLEWARE, SERVICE_KEY_PATHS) is not None


def test_a_middleware_failing_after_the_work_answers_as_the_chain_would(
    service_key, alice, monkeypatch
):
    def broken(request, response):
        raise RuntimeError("a middleware bug")

    monkeypatch.setattr(api_application.lane, "_after", [broken])
    status, headers, body = start(service_key, '{"session_id": "s1", "user_id": "alice"}')
    assert status == 500
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "server_error"
    assert Session.objects.filter(session_id="s1").exists()  # done once, not undone or redone


class _Throttled(UsageView):
    throttle_classes = [AnonRateThrottle]


class _StaffOnly(UsageView):
    permission_classes = [IsAdminUser]


class _AlsoBrowsable(UsageView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]


@pytest.mark.parametrize("view", [_Throttled, _StaffOnly, _AlsoBrowsable, UsageHistoryView])
def test_the_lane_never_answers_for_a_view_drf_would_check_more_of(view):
    assert ServiceLane.takes(UsageView) and ServiceLane.takes(SessionStartView)
    assert not ServiceLane.takes(view)


def test_ends_and_their_repeats_answer_as_drf_does(service_key, alice, lanes):
    for session_id in ("s1", "s2"):
        start(service_key, f'{{"session_id": "{session_id}", "user_id": "alice"}}')
    taken = lanes.fast
    ended = end(service_key, "s1", '{"status": "succeeded", "minutes": "2.5"}')
    repeated = end(service_key, "s1", '{"status": "succeeded", "minutes": "2.5"}')
    assert lanes.fast - taken == 2
    lanes.drf()
    repeated_by_drf = end(service_key, "s1", '{"status": "succeeded", "minutes": "2.5"}')
    other = end(service_key, "s2", '{"status": "failed", "minutes": 1}')
    assert ended[0] == repeated[0] == other[0] == 200
    assert ended == repeated == repeated_by_drf
    assert other[1].keys() == ended[1].keys()  # the lengths differ, with the body
    assert json.loads(other[2]).keys() == json.loads(ended[2]).keys()
    usage = MonthlyUsage.objects.get(customer=alice)
    assert (usage.successful_sessions, usage.failed_sessions) == (1, 1)
    assert usage.total_minutes == Decimal("3.50")


@pytest.mark.parametrize(
    ("session_id", "body", "status"),
    [
        ("nobody", '{"status": "succeeded", "minutes": 1}', 404),
        ("s1", '{"status": "active", "minutes": 1}', 400),
        ("s1", '{"status": "succeeded", "minutes": -1}', 400),
        ("s1", '{"status": "succeeded"}', 400),
        ("s1", "[1, 2]", 400),
        ("s1", "{not json", 400),
    ],
)
def test_refused_ends_answer_as_drf_does(service_key, alice, lanes, session_id, body, status):
    start(service_key, '{"session_id": "s1", "user_id": "alice"}')
    taken = lanes.fast
    fast = end(service_key, session_id, body)
    assert lanes.fast - taken == 1
    lanes.drf()
    assert end(service_key, session_id, body) == fast
    assert fast[0] == status
    assert Session.objects.get(session_id="s1").status == "active"


@pytest.mark.parametrize(
    "path", ["/api/v1/sessions/s1/end/", "/api/v1/sessions/s1/ending", "/api/v1/sessions/s1/end/x"]
)
def test_other_paths_under_the_sessions_take_the_chain(service_key, alice, lanes, path):
    start(service_key, '{"session_id": "s1", "user_id": "alice"}')
    taken = lanes.fast
    env = environ("POST", path, body=b'{"status": "succeeded", "minutes": 1}', key=service_key)
    assert answer(application, env)[0] in (301, 404)
    assert lanes.fast == taken


@pytest.mark.parametrize("path", ["/api/v1/sessions/room/42/end", "/api/v1/sessions/room%2F42/end"])
def test_a_session_id_holding_a_slash_can_be_ended(service_key, alice, lanes, path):
    """The start takes any session_id up to 255 characters, "/" included: its end must reach it
    (a session never ended would hold a concurrency slot and never give a failed unit back)."""
    from urllib.parse import unquote

    started = start(service_key, '{"session_id": "room/42", "user_id": "alice"}')
    assert started[0] == 201
    env = environ(
        "POST", unquote(path), body=b'{"status": "failed", "minutes": 1}', key=service_key
    )
    assert answer(application, env)[0] == 200
    assert Session.objects.get(session_id="room/42").status == "failed"


def test_an_end_finds_the_session_the_start_stored_trimmed(service_key, alice, lanes):
    start(service_key, '{"session_id": " s1 ", "user_id": "alice"}')  # stored as "s1"
    env = environ(
        "POST",
        "/api/v1/sessions/ s1 /end",
        body=b'{"status": "succeeded", "minutes": 1}',
        key=service_key,
    )
    assert answer(application, env)[0] == 200
    assert Session.objects.get(session_id="s1").status == "succeeded"
