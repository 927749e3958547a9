"""The sign-in e-mail a customer asks for on the sign-in page."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Customer, EmailKind
from accounts.services.notifications import email_send_once

# One address may be on record for several customers (one e-mail each); past this many, the
# address is shared too widely for a sign-in e-mail to make sense.
MAX_CUSTOMERS_PER_ADDRESS = 5


def sign_in_email_request(*, email: str) -> int:
    """Record a sign-in e-mail for every customer whose address on record is `email` (case
    does not matter), except customers whose login is staff or inactive. The link itself is
    minted by the worker when it sends the e-mail. Returns how many were recorded; the caller
    must not tell the visitor (the answer is the same whether the address exists or not)."""
    email = email.strip()
    if not email:
        return 0
    customers = list(
        Customer.objects.filter(email__iexact=email)
        .exclude(Q(user__is_staff=True) | Q(user__is_superuser=True) | Q(user__is_active=False))
        .order_by("pk")[:MAX_CUSTOMERS_PER_ADDRESS]
    )
    # Every request is its own e-mail: the outbox's once-only key is this request.
    request_key = f"{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
    with transaction.atomic():
        return sum(
            email_send_once(customer=customer, kind=EmailKind.SIGN_IN, dedupe_key=request_key)
            is not None
            for customer in customers
        )
