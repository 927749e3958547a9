import re

import pytest
from django.test import Client

from tests.support.pages import customer_with_login, signed_in

pytestmark = pytest.mark.django_db

# (url, signed in?)
PAGES = [
    ("/accounts/login/", False),
    ("/accounts/password_reset/", False),
    ("/pricing/", False),
    ("/pricing/", True),
    ("/account/usage/", True),
    ("/billing/success/?plan=growth", True),
    ("/billing/cancel/", True),
    ("/accounts/password_change/", True),
]


@pytest.mark.parametrize(("url", "as_customer"), PAGES)
def test_pages_load_nothing_from_another_host(url, as_customer):
    client = Client()
    if as_customer:
        client = signed_in(customer_with_login("starter", username="alice"))
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<html lang="en">' in html
    references = re.findall(r'(?:src|href|action)="([^"]*)"', html)
    assert references
    outside = [ref for ref in references if not ref.startswith(("/", "?", "#", "mailto:"))]
    assert outside == []
    assert "@import" not in html


def test_stylesheet_and_scripts_load_nothing_from_another_host():
    from django.contrib.staticfiles import finders

    for name in ("css/site.css", "js/checkout.js", "js/checkout-success.js", "img/favicon.svg"):
        path = finders.find(name)
        assert path, name
        with open(path, encoding="utf-8") as source:
            content = source.read()
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", content), name
        assert "@import" not in content, name
        assert not re.search(r"fetch\(\s*['\"]https?:", content), name


def test_whitenoise_serves_the_stylesheet(settings):
    settings.WHITENOISE_USE_FINDERS = True
    response = Client().get("/static/css/site.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b".plan-card" in b"".join(response.streaming_content)


def test_unknown_page_gets_the_layout_and_the_api_keeps_json():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "/static/css/site.css" in response.content.decode()
    api = Client().get("/api/v1/no-such-endpoint")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/pricing/", "/accounts/login/"])
def test_the_pages_send_a_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    for directive in ("script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in policy
    assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy


@pytest.mark.django_db
def test_the_admin_keeps_djangos_own_headers(admin_client):
    assert "Content-Security-Policy" not in admin_client.get("/admin/")
