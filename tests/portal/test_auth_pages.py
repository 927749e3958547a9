import re

import pytest
from django.core import mail
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.support.pages import PASSWORD, customer_with_login, signed_in, text

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def test_sign_in_page_is_our_layout_with_labelled_fields():
    html = Client().get(LOGIN).content.decode()
    assert '<link rel="stylesheet" href="/static/css/site.css">' in html
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'autocomplete="current-password"' in html
    assert 'href="/accounts/password_reset/"' in html


def test_customer_signs_in_and_lands_on_its_usage():
    customer_with_login("starter", username="alice")
    client = Client()
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/account/usage/"
    assert "Your usage" in text(client.get("/account/usage/").content.decode())


def test_sign_in_returns_to_the_page_asked_for():
    customer_with_login("starter", username="alice")
    response = Client().post(
        LOGIN, {"username": "alice", "password": PASSWORD, "next": "/pricing/"}
    )
    assert response["Location"] == "/pricing/"


def test_wrong_password_is_refused_with_a_message():
    customer_with_login("starter", username="alice")
    client = Client()
    response = client.post(LOGIN, {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Please enter a correct username and password" in text(html)
    assert client.get("/account/usage/").status_code == 302


def test_a_signed_in_customer_skips_the_sign_in_page():
    alice = customer_with_login("starter", username="alice")
    assert signed_in(alice).get(LOGIN)["Location"] == "/account/usage/"


def test_sign_out_is_a_post():
    alice = customer_with_login("starter", username="alice")
    client = signed_in(alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/account/usage/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response["Location"] == LOGIN
    assert client.get("/account/usage/").status_code == 302


def test_password_reset_by_email_end_to_end():
    customer_with_login("starter", username="alice")
    client = Client()
    page = client.get("/accounts/password_reset/").content.decode()
    assert '<label for="id_email">Email</label>' in page

    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert "Check your inbox" in text(client.get(response["Location"]).content.decode())

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "Reset your AI-Gate password"
    assert message.from_email == "AI-Gate billing <billing@ai-gate.dev>"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    html_body, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="http://testserver{link}"' in html_body
    assert "Choose a new password" in html_body

    form_url = client.get(link)["Location"]  # Django swaps the token for a session one
    assert "Choose a new password" in text(client.get(form_url).content.decode())
    new = "another-long-password-42"
    done = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert done["Location"] == "/accounts/reset/done/"
    assert "Password changed" in text(client.get(done["Location"]).content.decode())
    assert signs_in("alice", new)
    assert not signs_in("alice", PASSWORD)

    used_again = client.get(link)
    assert "This link no longer works" in text(used_again.content.decode())


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same():
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_password_change_uses_the_customer_layout():
    alice = customer_with_login("starter", username="alice")
    client = signed_in(alice)
    html = client.get("/accounts/password_change/").content.decode()
    assert "Change your password" in text(html)
    assert "/static/css/site.css" in html
    new = "another-long-password-42"
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response["Location"] == "/accounts/password_change/done/"
    assert signs_in("alice", new)


def test_admin_stays_staff_only():
    alice = customer_with_login("starter", username="alice")
    response = signed_in(alice).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    staff = Client()
    staff.force_login(UserFactory(username="staffer", is_staff=True, is_superuser=True))
    assert staff.get("/admin/").status_code == 200
    # the admin keeps its own password-change page
    assert "/static/css/site.css" not in staff.get("/admin/password_change/").content.decode()


def signs_in(username: str, password: str) -> bool:
    """Whether the sign-in form takes these credentials (through django-axes, as a browser)."""
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def test_sign_in_is_throttled_after_five_wrong_passwords(settings):
    customer_with_login("starter", username="alice")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert not signs_in("alice", "not-the-password")
    locked = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    assert signs_in("bob-who-does-not-exist", "x") is False  # others are not locked out


def test_staff_sign_in_to_the_admin_is_throttled_too(settings):
    from tests.accounts.factories import UserFactory

    staff = UserFactory(username="sam", is_staff=True)
    staff.set_password(PASSWORD)
    staff.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/admin/login/", {"username": "sam", "password": "wrong"})
    locked = Client().post("/admin/login/", {"username": "sam", "password": PASSWORD})
    assert locked.status_code == 429
