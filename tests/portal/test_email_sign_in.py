"""Passwordless sign-in at /accounts/login/: a one-time link by e-mail, valid 15 minutes, the
same answer whether or not the address exists, throttled (`portal/sign_in.py`)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client

from accounts.models import EmailKind, EmailNotification, SignInLink, SignInPurpose
from portal.sign_in import EMAIL_REQUESTS_PER_ADDRESS, EMAIL_REQUESTS_PER_IP
from tests.accounts.factories import CustomerFactory, UserFactory
from tests.support.pages import NOW, PASSWORD, customer_with_login, text

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
ASK = "/accounts/login/link/"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """ask(client, email): post the sign-in page's e-mail form; the outbox's delivery runs
    when the request's transaction commits, as a worker would run it."""

    def post(client: Client, email: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(ASK, {"email": email})

    return post


def link_in(message) -> str:
    """The path of the one sign-in link in an e-mail (text and HTML agree)."""
    links = set(re.findall(r"http://testserver(/accounts/link/[\w-]+/)", message.body))
    assert len(links) == 1, message.body
    (link,) = links
    assert f'href="http://testserver{link}"' in message.alternatives[0][0]
    return link


def test_the_sign_in_page_offers_an_e_mail_link_and_keeps_the_password_form():
    html = Client().get(LOGIN).content.decode()
    assert f'action="{ASK}"' in html
    assert '<label for="id_link_email">E-mail address</label>' in html
    assert 'autocomplete="email"' in html
    assert "E-mail me a sign-in link" in text(html)
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_an_address_on_record_gets_a_link_that_signs_in_once(ask, frozen_now):
    customer_with_login("starter", username="alice", email="Alice@Example.com")
    client = Client()

    response = ask(client, "alice@example.COM")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/link/sent/"
    sent_page = text(client.get(response["Location"]).content.decode())
    assert "If an account uses that address, we have sent it a link" in sent_page
    (message,) = mail.outbox
    assert message.to == ["Alice@Example.com"]
    assert message.subject == "Your AI-Gate sign-in link"
    assert "works once, within 15 minutes" in message.body
    link = link_in(message)
    record = SignInLink.objects.get()
    assert record.purpose == SignInPurpose.SIGN_IN_EMAIL
    assert record.expires_at == NOW + timedelta(minutes=15)

    browser = Client()
    confirm = browser.get(link)  # a mail scanner's GET spends nothing
    assert confirm.status_code == 200
    assert "Continue to the usage page of the account alice" in text(confirm.content.decode())
    assert browser.get(link).status_code == 200
    assert confirm["Cache-Control"].startswith("max-age=0")
    signed_in = browser.post(link)
    assert signed_in["Location"] == "/account/usage/"
    assert "Account alice" in text(browser.get("/account/usage/").content.decode())

    used = Client()
    assert used.get(link).status_code == 410
    assert used.post(link).status_code == 410
    assert "_auth_user_id" not in used.session


def test_an_unknown_address_gets_the_same_answer_and_no_e_mail(ask):
    customer_with_login("starter", username="alice")
    known = ask(Client(), "alice@example.com")
    unknown = ask(Client(), "nobody@example.com")
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert len(mail.outbox) == 1
    assert EmailNotification.objects.filter(kind=EmailKind.SIGN_IN).count() == 1


def test_the_e_mailed_link_expires_after_15_minutes(ask):
    customer_with_login("starter", username="alice")
    with time_machine.travel(NOW, tick=False):
        ask(Client(), "alice@example.com")
    link = link_in(mail.outbox[0])
    with time_machine.travel(NOW + timedelta(minutes=15, seconds=1), tick=False):
        browser = Client()
        expired = browser.post(link)
        assert expired.status_code == 410
        page = text(expired.content.decode())
        assert "This link no longer works" in page and "E-mail me a sign-in link" in page
        assert "_auth_user_id" not in browser.session
    with time_machine.travel(NOW + timedelta(minutes=14, seconds=59), tick=False):
        assert Client().post(link)["Location"] == "/account/usage/"


def test_a_customer_without_a_login_signs_in_by_e_mail_and_gets_one(ask):
    customer = CustomerFactory(external_id="cust_7", email="ops@example.com")
    ask(Client(), "ops@example.com")
    browser = Client()
    browser.post(link_in(mail.outbox[0]))
    customer.refresh_from_db()
    assert customer.user is not None and not customer.user.has_usable_password()
    assert "Account cust_7" in text(browser.get("/account/usage/").content.decode())


def test_an_address_shared_by_two_customers_gets_one_link_each(ask):
    CustomerFactory(external_id="team-a", email="ops@example.com")
    CustomerFactory(external_id="team-b", email="ops@example.com")
    ask(Client(), "ops@example.com")
    assert len(mail.outbox) == 2
    accounts = set()
    for message in mail.outbox:
        browser = Client()
        browser.post(link_in(message))
        page = text(browser.get("/account/usage/").content.decode())
        accounts.add(re.search(r"Account (team-\w)", page).group(1))
    assert accounts == {"team-a", "team-b"}


def test_a_staff_login_never_gets_a_sign_in_link(ask):
    staff = UserFactory(username="sam", is_staff=True, email="sam@example.com")
    CustomerFactory(external_id="sam", email="sam@example.com", user=staff)
    response = ask(Client(), "sam@example.com")
    assert response["Location"] == "/accounts/login/link/sent/"
    assert mail.outbox == []


def test_a_bad_address_is_shown_on_the_sign_in_page(ask):
    response = ask(Client(), "not an address")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in text(html)
    assert '<label for="id_username">Username</label>' in html
    assert mail.outbox == []
    # The address bar now shows ASK: reloaded, it is the sign-in page, not a blank 405.
    response = Client().get(ASK)
    assert response.status_code == 302 and response.url == "/accounts/login/"
    assert Client().put(ASK).status_code == 405


def test_requests_for_one_address_are_throttled_whether_or_not_it_exists(ask):
    customer_with_login("starter", username="alice")
    for address in ("alice@example.com", "nobody@example.com"):
        for n in range(EMAIL_REQUESTS_PER_ADDRESS):
            client = Client(REMOTE_ADDR=f"10.0.{len(address)}.{n}")
            assert ask(client, address).status_code == 302
        refused = ask(Client(REMOTE_ADDR="10.9.9.9"), address)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "900"
        assert "Too many sign-in links" in text(refused.content.decode())
    assert len(mail.outbox) == EMAIL_REQUESTS_PER_ADDRESS
    # another address is not held back
    assert ask(Client(REMOTE_ADDR="10.9.9.9"), "carol@example.com").status_code == 302


def test_requests_from_one_client_are_throttled_across_addresses(ask):
    client = Client(REMOTE_ADDR="10.1.1.1")
    for n in range(EMAIL_REQUESTS_PER_IP):
        assert ask(client, f"someone{n}@example.com").status_code == 302
    assert ask(client, "another@example.com").status_code == 429
    assert ask(Client(REMOTE_ADDR="10.1.1.2"), "another@example.com").status_code == 302


def test_the_window_ends(ask, settings):
    customer_with_login("starter", username="alice")
    with time_machine.travel(NOW, tick=False):
        for _ in range(EMAIL_REQUESTS_PER_ADDRESS):
            ask(Client(), "alice@example.com")
        assert ask(Client(), "alice@example.com").status_code == 429
    with time_machine.travel(NOW + timedelta(minutes=16), tick=False):
        assert ask(Client(), "alice@example.com").status_code == 302


def test_password_sign_in_stays_for_those_who_set_one():
    customer_with_login("starter", username="alice")
    response = Client().post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response["Location"] == "/account/usage/"


def test_a_login_made_by_a_link_has_no_password_to_guess(ask):
    CustomerFactory(external_id="cust_9", email="ops@example.com")
    ask(Client(), "ops@example.com")
    Client().post(link_in(mail.outbox[0]))
    for password in ("", "!", "cust_9"):
        response = Client().post(LOGIN, {"username": "cust_9", "password": password})
        assert response.status_code == 200


def test_the_sign_in_link_page_does_not_leak_its_address(ask):
    customer_with_login("starter", username="alice")
    ask(Client(), "alice@example.com")
    link = link_in(mail.outbox[0])
    page = Client().get(link)
    assert page.headers.get("Referrer-Policy") == "same-origin"
    assert urlsplit(link).path not in page.content.decode()


@pytest.mark.parametrize(
    "email", ["a\x00b@example.com", "x" * 250 + "@example.com", "<script>@example.com", ""]
)
def test_hostile_addresses_get_the_form_again_never_a_500(ask, email):
    response = ask(Client(), email)
    assert response.status_code == 400
    assert "<script>@" not in response.content.decode()
    assert mail.outbox == []


def test_an_international_address_on_record_gets_its_link(ask):
    CustomerFactory(external_id="mueller", email="müller@exämple.de")
    assert ask(Client(), "müller@exämple.de")["Location"] == "/accounts/login/link/sent/"
    (message,) = mail.outbox
    assert message.to == ["müller@exämple.de"]
    browser = Client()
    browser.post(link_in(message))
    assert "Account mueller" in text(browser.get("/account/usage/").content.decode())
