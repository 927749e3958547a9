"""api/fastlane.py on the two hot endpoints: each request answered by the fast lane gets the
answer DRF's dispatch gives (status, headers, body), errors included, and is counted once."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Plan
from api import fastlane
from tests.accounts.factories import CustomerFactory, plan
from usage.api.views import SessionStartView, UsageView
from usage.models import MonthlyUsage, Session
from usage.ratelimit import rate_limit_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def lanes(monkeypatch):
    """`lanes.fast` counts the requests the fast lane answered or began; `lanes.drf()` sends
    the following ones through DRF's dispatch only."""

    class Lanes:
        fast = 0

        def drf(self):
            monkeypatch.setattr(fastlane, "_takes_the_fast_lane", lambda request, method: False)

    lanes = Lanes()
    for view in (UsageView, SessionStartView):
        original = view.fast_lane

        def counted(self, request, original=original):
            lanes.fast += 1
            return original(self, request)

        monkeypatch.setattr(view, "fast_lane", counted)
    return lanes


def client(key: str, **headers) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}", **headers)
    return api


def seen(response) -> tuple[int, dict, bytes]:
    return response.status_code, dict(response.headers), response.content


def read(api, query="?user_id=alice"):
    return api.get(f"/billing/usage{query}")


def start(api, body: str):
    return api.generic("POST", "/api/v1/sessions", body, content_type="application/json")


@pytest.fixture
def alice(db):
    return CustomerFactory(external_id="alice", plan=plan("growth"))


@pytest.mark.parametrize(
    "query", ["?user_id=alice", "?user_id=nobody", "?user_id=%20", "", "?user_id=alice&format=xml"]
)
def test_reads_answer_as_drf_does(service_key, alice, lanes, query):
    fast = seen(read(client(service_key), query))
    taken = lanes.fast
    lanes.drf()
    assert seen(read(client(service_key), query)) == fast
    assert taken == (0 if "format" in query else 1)


@pytest.mark.parametrize("accept", ["text/html", "application/json; indent=4", "*/*", None])
def test_other_accept_headers_go_through_drf(service_key, alice, lanes, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    fast = seen(read(client(service_key, **headers)))
    taken = lanes.fast
    lanes.drf()
    assert seen(read(client(service_key, **headers))) == fast
    assert taken == (1 if accept in (None, "*/*") else 0)


def test_a_bad_key_goes_through_drf(alice, lanes):
    response = read(client("aig_not-a-key"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
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
    fast = seen(start(client(service_key), body))
    assert lanes.fast == 1
    lanes.drf()
    assert seen(start(client(service_key), body)) == fast
    assert fast[0] == status
    assert not Session.objects.exists()


def test_a_start_and_its_replay_answer_as_drf_does(service_key, alice, lanes):
    body = '{"session_id": "s1", "user_id": "alice"}'
    created = start(client(service_key), body)
    replayed = start(client(service_key), body)
    assert lanes.fast == 2
    lanes.drf()
    replayed_by_drf = start(client(service_key), body)
    other = start(client(service_key), '{"session_id": "s2", "user_id": "alice"}')
    assert (created.status_code, replayed.status_code) == (201, 200)
    assert seen(replayed_by_drf) == seen(replayed)
    assert created.content == replayed.content
    assert (other.status_code, dict(other.headers)) == (201, dict(created.headers))
    assert other.json().keys() == created.json().keys()
    assert MonthlyUsage.objects.get(customer=alice).total_sessions == 2


def test_a_limit_refused_in_the_fast_lane_is_worded_by_drf_and_counted_once(
    service_key, alice, lanes, settings
):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.filter(code="growth").update(included_sessions=1)
    assert start(client(service_key), '{"session_id": "s1", "user_id": "alice"}').status_code == 201
    refused = start(client(service_key), '{"session_id": "s2", "user_id": "alice"}')
    assert lanes.fast == 2
    lanes.drf()
    by_drf = start(client(service_key), '{"session_id": "s3", "user_id": "alice"}')
    assert refused.status_code == 402
    assert (by_drf.status_code, dict(by_drf.headers)) == (402, dict(refused.headers))
    assert by_drf.json() == refused.json()
    # Three requests, three counts: the refusal raised again inside DRF was not counted again.
    assert rate_limit_count(subject="alice") == 4
    assert MonthlyUsage.objects.get(customer=alice).total_sessions == 1


def test_rate_limited_reads_answer_as_drf_does(service_key, alice, lanes, settings):
    settings.RATE_LIMITS_ENABLED = True
    Plan.objects.filter(code="growth").update(requests_per_minute=1)
    assert read(client(service_key)).status_code == 200
    fast = seen(read(client(service_key)))
    lanes.drf()
    by_drf = seen(read(client(service_key)))
    assert fast[0] == 429
    assert by_drf[0] == 429
    assert by_drf[1].keys() == fast[1].keys()
    assert rate_limit_count(subject="alice") == 4
