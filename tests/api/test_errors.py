"""Errors under the API's paths are worded `{"code", "detail"}` (`api/errors.py`)."""

import pytest


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/billing/usage?user_id=alice&format=xml"), ("post", "/api/v1/sessions?format=csv")],
)
def test_a_format_the_api_does_not_serve_is_a_worded_404(api, method, path):
    body = {"session_id": "s1", "user_id": "alice"} if method == "post" else None
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found" and response.json()["detail"]
