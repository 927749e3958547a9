"""E-mail addresses as customers really have them (RFC 6531): a UTF-8 local part and an
internationalised domain are accepted (`accounts/validators.py`) and delivered with SMTPUTF8
(`accounts/mail.py`); only what is truly malformed is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import EmailKind, EmailStatus
from accounts.services.notifications import email_send_once
from accounts.validators import validate_international_email
from tests.accounts.factories import CustomerFactory, plan
from tests.support.smtp import SmtpServer
from tests.support.workers import worker_runs

REAL = [
    "plain@example.com",
    "müller@example.de",
    "josé.garcía@exämple.es",
    "用户@例子.广告",
    "θσερ@παράδειγμα.δοκιμή",
    "user+tag@xn--exmple-cua.de",
]
MALFORMED = [
    "no-at-sign",
    "a@b@example.com",
    "two words@example.com",
    "dot..dot@example.com",
    ".lead@example.com",
    "@example.com",
    "müller@",
    "müller@-bad-.de",
    "ctrl\x85char@example.com",
    "nbsp\xa0here@example.com",
    "é" * 40 + "@example.com",  # 80 bytes: a local part holds 64
]


@pytest.mark.parametrize("address", REAL)
def test_real_addresses_are_accepted(address):
    validate_international_email(address)


@pytest.mark.parametrize("address", MALFORMED)
def test_malformed_addresses_are_refused(address):
    with pytest.raises(ValidationError):
        validate_international_email(address)


@pytest.fixture
def smtp_settings(settings):
    def point_at(server: SmtpServer) -> None:
        settings.EMAIL_BACKEND = "accounts.mail.SmtpUtf8EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    return point_at


def notify(address: str):
    customer = CustomerFactory(email=address, plan=plan("starter"))
    with worker_runs():
        row = email_send_once(
            customer=customer,
            kind=EmailKind.USAGE_80,
            dedupe_key="2026-11",
            context={"plan": customer.plan, "used": 4000, "quota": 5000, "unit": "sessions",
                     "percent": 80, "month": None, "next_month": None},
        )  # fmt: skip
    row.refresh_from_db()
    return row


@pytest.mark.django_db
def test_an_internationalised_address_is_delivered_with_smtputf8(smtp_settings):
    with SmtpServer(smtputf8=True) as server:
        smtp_settings(server)
        row = notify("müller@exämple.de")
        ascii_row = notify("plain@example.com")
        assert (row.status, row.error) == (EmailStatus.SENT, "")
        assert ascii_row.status == EmailStatus.SENT
        assert server.counts() == {"müller@xn--exmple-cua.de": 1, "plain@example.com": 1}


@pytest.mark.django_db
def test_a_server_without_smtputf8_refuses_it_for_good_with_the_reason(smtp_settings):
    with SmtpServer(smtputf8=False) as server:
        smtp_settings(server)
        row = notify("用户@例子.广告")
        assert row.status == EmailStatus.FAILED
        assert "553" in row.error and "SMTPUTF8" in row.error
        assert server.counts() == {}


def test_an_address_longer_than_a_mail_path_is_refused():
    """Found by schemathesis: a 256-character address passed and overflowed the column."""
    long_domain = ".".join(["a" * 63] * 4)
    with pytest.raises(ValidationError):
        validate_international_email(f"0@{long_domain}")


@pytest.mark.django_db
def test_a_session_start_with_an_overlong_email_is_a_400(api):
    long_domain = ".".join(["a" * 63] * 4)
    response = api.post(
        "/api/v1/sessions",
        {"session_id": "s1", "user_id": "u1", "email": f"0@{long_domain}"},
        format="json",
    )
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
