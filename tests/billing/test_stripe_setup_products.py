"""`manage.py stripe_setup_products`: products and prices made once, reused after."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError
from djstripe.models import Price, Product

from accounts.models import Plan
from tests.support.stripe import OPTIONS

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("stripe_setup_products", *args, stdout=out)
    return out.getvalue()


def at_stripe():
    products = list(stripe.Product.list(limit=100, **OPTIONS).auto_paging_iter())
    prices = list(stripe.Price.list(limit=100, **OPTIONS).auto_paging_iter())
    return products, prices


def test_setup_twice_creates_once_and_then_changes_nothing(standin, tmp_path):
    output = tmp_path / "ids.json"
    first = run("--output", str(output))
    products, prices = at_stripe()
    assert sorted(p.name for p in products) == ["AI Gate - Growth", "AI Gate - Starter"]
    by_product = {p.product: p for p in prices}
    assert {p.name: by_product[p.id].unit_amount for p in products} == {
        "AI Gate - Starter": 2900,
        "AI Gate - Growth": 9900,
    }
    assert all(p.currency == "usd" and p.recurring.interval == "month" for p in prices)
    starter = Plan.objects.get(code="starter").stripe_price_id
    growth = Plan.objects.get(code="growth").stripe_price_id
    assert {starter, growth} == {p.id for p in prices}
    assert f"STRIPE_PRICE_STARTER={starter}" in first
    assert f"STRIPE_PRICE_GROWTH={growth}" in first
    saved = json.loads(output.read_text())
    assert saved["mode"] == "test"
    assert saved["plans"]["starter"]["price"] == starter
    assert saved["plans"]["growth"]["unit_amount"] == 9900
    assert saved["env"] == {"STRIPE_PRICE_STARTER": starter, "STRIPE_PRICE_GROWTH": growth}
    # Synced into dj-stripe.
    assert set(Product.objects.values_list("name", flat=True)) == {
        "AI Gate - Starter",
        "AI Gate - Growth",
    }
    assert set(Price.objects.values_list("id", flat=True)) == {starter, growth}

    calls_before = len(standin.requests)
    second = run("--output", str(output))
    assert "Nothing changed" in second
    assert f"{output} is up to date" in second
    assert f"STRIPE_PRICE_STARTER={starter}" in second
    again_products, again_prices = at_stripe()
    assert [p.id for p in again_products] == [p.id for p in products]
    assert [p.id for p in again_prices] == [p.id for p in prices]
    writes = [r for r in list(standin.requests)[calls_before:] if r["method"] != "GET"]
    assert writes == []
    assert Product.objects.count() == 2
    assert Price.objects.count() == 2


def test_a_changed_plan_price_gets_a_new_price_and_archives_the_old(standin, tmp_path):
    run("--output", str(tmp_path / "ids.json"))
    old = Plan.objects.get(code="starter").stripe_price_id
    Plan.objects.filter(code="starter").update(price_cents=3500)
    out = run("--output", str(tmp_path / "ids.json"))
    new = Plan.objects.get(code="starter").stripe_price_id
    assert new != old
    assert f"archived price {old}" in out
    assert stripe.Price.retrieve(old, **OPTIONS).active is False
    current = stripe.Price.retrieve(new, **OPTIONS)
    assert (current.unit_amount, current.active) == (3500, True)
    assert current.lookup_key == "ai_gate_sessions_starter_monthly_usd"
    assert stripe.Price.retrieve(old, **OPTIONS).lookup_key is None
    assert len(stripe.Product.list(**OPTIONS).data) == 2


def test_default_output_file_is_named_after_the_mode(standin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run()
    assert json.loads((tmp_path / "stripe-ids-sessions.test.json").read_text())["mode"] == "test"


def test_mode_must_match_the_key(standin):
    with pytest.raises(CommandError, match="live"):
        run("--mode", "live", "--output", "/dev/null")
    assert stripe.Product.list(**OPTIONS).data == []
    assert not Plan.objects.exclude(stripe_price_id="").exists()


def test_stripe_down_fails_cleanly_and_links_nothing(tmp_path):
    # No stand-in: stripe.api_base points at a closed port.
    with pytest.raises(CommandError, match="Stripe could not"):
        run("--output", str(tmp_path / "ids.json"))
    assert not Plan.objects.exclude(stripe_price_id="").exists()
    assert not (tmp_path / "ids.json").exists()
