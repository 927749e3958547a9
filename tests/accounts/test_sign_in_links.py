"""One-time sign-in links (`accounts/services/sign_in.py`): single use under concurrency, a
login made once on first sign-in, and every customer e-mail with its own link minted when it
is sent (a retried send revokes the link of the attempt before)."""

from __future__ import annotations

import json
import re
import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection

from accounts.models import Customer, EmailKind, EmailNotification, SignInLink, SignInPurpose
from accounts.services.notifications import BACKOFF_SECONDS, emails_deliver
from accounts.services.sign_in import (
    LinkRefused,
    sign_in_link_create,
    sign_in_link_redeem,
    sign_in_links_purge,
)
from tests.accounts.factories import CustomerFactory, EmailNotificationFactory
from tests.support.mail import FailingEmailBackend
from tests.support.pages import NOW
from tests.support.races import race

LINK = re.compile(r"http://testserver/accounts/link/([\w-]{43})/")


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "http://testserver"


def token_of(url: str) -> str:
    return LINK.fullmatch(url).group(1)


def links_in(message) -> set[str]:
    """The tokens of the sign-in links in an e-mail's text and HTML bodies."""
    found = set(LINK.findall(message.body)) | set(LINK.findall(message.alternatives[0][0]))
    return found


@pytest.mark.django_db
class TestRedeem:
    def test_a_link_signs_in_once(self):
        customer = CustomerFactory()
        token = token_of(
            sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).url
        )
        link, user = sign_in_link_redeem(token=token)
        assert link.customer_id == customer.pk and link.used_at is not None
        assert Customer.objects.get(pk=customer.pk).user == user
        with pytest.raises(LinkRefused):
            sign_in_link_redeem(token=token)

    def test_an_unknown_or_malformed_token_is_refused_without_a_login(self):
        CustomerFactory()
        for token in ("A" * 43, "short", "x" * 43 + "/", ""):
            with pytest.raises(LinkRefused):
                sign_in_link_redeem(token=token)
        assert not get_user_model().objects.exists()


@pytest.mark.django_db
class TestEveryEmailCarriesItsOwnLink:
    @pytest.mark.parametrize(
        "kind",
        [
            EmailKind.MIGRATION_NOTICE,
            EmailKind.MIGRATED,
            EmailKind.PAYMENT_FAILED,
            EmailKind.USAGE_80,
            EmailKind.USAGE_100,
            EmailKind.SIGN_IN,
        ],
    )
    def test_each_kind_links_to_the_portal_with_a_link_of_its_own(self, kind):
        customer = CustomerFactory(external_id="alice")
        first = EmailNotificationFactory(customer=customer, kind=kind, next_attempt_at=NOW)
        second = EmailNotificationFactory(customer=customer, kind=kind, next_attempt_at=NOW)

        assert emails_deliver(ids=[first.pk, second.pk])["sent"] == 2

        tokens = [links_in(message) for message in mail.outbox]
        assert all(len(found) == 1 for found in tokens), [m.body for m in mail.outbox]
        assert tokens[0] != tokens[1]
        links = SignInLink.objects.filter(customer=customer)
        assert {link.notification_id for link in links} == {first.pk, second.pk}
        # the token is only in the e-mail: never in the outbox row
        for row in EmailNotification.objects.all():
            stored = json.dumps([row.context, row.subject, row.error])
            assert not any(token in stored for found in tokens for token in found)
        (token,) = tokens[0]
        link, user = sign_in_link_redeem(token=token)
        assert link.customer_id == customer.pk and user.customer == customer

    def test_a_retried_send_revokes_the_link_of_the_attempt_before(self, settings):
        settings.EMAIL_BACKEND = "tests.support.mail.FailingEmailBackend"
        FailingEmailBackend.reset()
        customer = CustomerFactory()
        row = EmailNotificationFactory(
            customer=customer, kind=EmailKind.USAGE_80, next_attempt_at=NOW
        )
        with time_machine.travel(NOW, tick=False):
            FailingEmailBackend.fail_next(1, smtplib.SMTPServerDisconnected("dropped"))
            assert emails_deliver(ids=[row.pk])["retry"] == 1
            (first_attempt,) = FailingEmailBackend.refused
            (stale,) = links_in(first_attempt)
        with time_machine.travel(NOW + timedelta(seconds=BACKOFF_SECONDS[0] + 1), tick=False):
            assert emails_deliver(ids=[row.pk])["sent"] == 1
            (fresh,) = links_in(mail.outbox[-1])
            assert fresh != stale
            assert SignInLink.objects.filter(notification=row).count() == 2
            with pytest.raises(LinkRefused):
                sign_in_link_redeem(token=stale)
            assert sign_in_link_redeem(token=fresh)[0].customer_id == customer.pk
        FailingEmailBackend.reset()

    def test_a_notification_link_lasts_a_day_and_a_sign_in_e_mail_link_15_minutes(self):
        customer = CustomerFactory()
        with time_machine.travel(NOW, tick=False):
            usage = EmailNotificationFactory(
                customer=customer, kind=EmailKind.USAGE_100, next_attempt_at=NOW
            )
            sign_in = EmailNotificationFactory(
                customer=customer, kind=EmailKind.SIGN_IN, next_attempt_at=NOW
            )
            emails_deliver(ids=[usage.pk, sign_in.pk])
        expiry = dict(SignInLink.objects.values_list("notification_id", "expires_at"))
        assert expiry[usage.pk] == NOW + timedelta(hours=24)
        assert expiry[sign_in.pk] == NOW + timedelta(minutes=15)
        purposes = dict(SignInLink.objects.values_list("notification_id", "purpose"))
        assert purposes == {
            usage.pk: SignInPurpose.NOTIFICATION,
            sign_in.pk: SignInPurpose.SIGN_IN_EMAIL,
        }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestRaces:
    def test_two_clicks_at_once_sign_in_once(self):
        customer = CustomerFactory()
        token = token_of(
            sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).url
        )
        for _ in range(3):  # several rounds: each with a fresh link
            results = race(8, lambda i, token=token: sign_in_link_redeem(token=token))
            won = [r for r in results if isinstance(r, tuple)]
            refused = [r for r in results if isinstance(r, LinkRefused)]
            assert (len(won), len(refused)) == (1, 7), results
            token = token_of(
                sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).url
            )
        assert SignInLink.objects.filter(used_at__isnull=False).count() == 3
        assert connection.vendor == "postgresql"

    def test_two_first_sign_ins_at_once_make_one_login(self):
        customer = CustomerFactory(external_id="cust_1")
        tokens = [
            token_of(
                sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).url
            )
            for _ in range(6)
        ]
        results = race(6, lambda i: sign_in_link_redeem(token=tokens[i]))
        assert all(isinstance(r, tuple) for r in results), results
        users = {user.pk for _, user in results}
        assert len(users) == 1
        assert get_user_model().objects.count() == 1
        assert Customer.objects.get(pk=customer.pk).user_id in users


@pytest.mark.django_db
def test_links_expired_over_30_days_ago_are_purged():
    customer = CustomerFactory()
    with time_machine.travel(NOW - timedelta(days=31), tick=False):
        old = sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).link
    with time_machine.travel(NOW - timedelta(days=29), tick=False):
        recent = sign_in_link_create(customer=customer, purpose=SignInPurpose.PORTAL_SESSION).link
    with time_machine.travel(NOW, tick=False):
        assert sign_in_links_purge() == 1
    assert list(SignInLink.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not SignInLink.objects.filter(pk=old.pk).exists()
