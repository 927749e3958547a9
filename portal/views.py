"""The customers' pages: thin views over selectors and presenters."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.estimates import minutes_per_session
from accounts.periods import period_of
from accounts.selectors import public_plans
from billing.selectors import customer_invoices, subscription_cancels_at, subscription_period_end
from billing.services.billing_portal import billing_portal_available
from portal.charts import daily_chart, monthly_chart
from portal.presenters import (
    PlanTerms,
    forecast_sentence,
    invoice_lines,
    plan_cards,
    status_notice,
    usage_display,
)
from portal.selectors import (
    customer_for_user,
    minutes_per_day,
    projects_with_sessions,
    sessions_per_day,
)
from usage.selectors import move_outlooks, usage_forecast, usage_history_for, usage_summary_for

# The API endpoints the pricing page's script posts the plan to: Checkout for a new
# subscription, the switch for a customer who already pays through one.
CHECKOUT_ENDPOINT = "/billing/checkout"
SWITCH_ENDPOINT = "/billing/subscription"
# A subscriber's move to Free at the period's end, its undo, and a switch's preview.
CANCEL_ENDPOINT = "/billing/subscription/cancel"
RESUME_ENDPOINT = "/billing/subscription/resume"
PREVIEW_ENDPOINT = "/billing/subscription/preview"


def _no_customer(request: HttpRequest) -> HttpResponse:
    """A login that no customer uses (staff, a removed account) gets an explanation."""
    return render(request, "pages/no_customer.html", status=403)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return redirect("account-usage" if request.user.is_authenticated else "pricing")


@require_safe
@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    now = timezone.now()
    period = period_of(now)
    summary = usage_summary_for(customer=customer, period=period)
    per_day = minutes_per_day if customer.plan.bills_minutes else sessions_per_day
    counts = per_day(customer=customer, period=period)
    usage = usage_display(summary)
    forecast = usage_forecast(summary, now=now)
    history = usage_history_for(customer, now=now)
    context = {
        "customer": customer,
        "usage": usage,
        "forecast": forecast_sentence(forecast=forecast, usage=usage, today=now.date()),
        "history": monthly_chart(months=history, projected=forecast.projected),
        "plan_terms": PlanTerms(customer.plan),
        "next_plan_terms": PlanTerms(customer.grandfather_plan)
        if customer.is_grandfathered
        else None,
        "outlook": move_outlooks(
            customer_ids=[customer.pk], new_plans={customer.pk: customer.grandfather_plan}, now=now
        )[customer.pk]
        if customer.is_grandfathered
        else None,
        "chart": daily_chart(counts=counts, period=period, today=now.date(), unit=usage.unit),
        "projects": list(projects_with_sessions(customer=customer, period=period)),
        "notice": status_notice(customer),
        # Stripe's billing portal and the invoices mirrored from Stripe (issue 13).
        "billing_portal": billing_portal_available(customer),
        "invoices": invoice_lines(customer_invoices(customer=customer)),
        "cancels_at": subscription_cancels_at(customer=customer),
    }
    return render(request, "pages/usage.html", context)


@require_safe
def pricing_page(request: HttpRequest) -> HttpResponse:
    customer = customer_for_user(request.user)
    cards = plan_cards(
        plans=list(public_plans()),
        customer=customer,
        signed_in=request.user.is_authenticated,
    )
    context = {
        "customer": customer,
        "cards": cards,
        "checkout_endpoint": CHECKOUT_ENDPOINT,
        "switch_endpoint": SWITCH_ENDPOINT,
        "cancel_endpoint": CANCEL_ENDPOINT,
        "resume_endpoint": RESUME_ENDPOINT,
        "preview_endpoint": PREVIEW_ENDPOINT,
        "paid_until": subscription_period_end(customer) if customer else None,
        "next_url": request.get_full_path(),
        "minutes_per_session": minutes_per_session(),
    }
    return render(request, "pages/pricing.html", context)


@require_safe
@login_required
def checkout_success(request: HttpRequest) -> HttpResponse:
    """Where Stripe Checkout sends the customer after paying, and the pricing page after a
    subscription switch (`?change=switch`).

    After Checkout the plan changes when Stripe's webhook arrives, which may be a moment
    after the redirect: until then the page says the payment went through and the plan is on
    its way. A switch has already changed the plan when the browser gets here.
    """
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    expected = public_plans().filter(code=request.GET.get("plan", "")).first()
    context = {
        "customer": customer,
        "expected_plan": expected,
        "is_active": expected is None or expected.pk == customer.plan_id,
        "switched": request.GET.get("change") == "switch",
        "plan_terms": PlanTerms(customer.plan),
    }
    return render(request, "pages/checkout_success.html", context)


@require_safe
@login_required
def checkout_cancel(request: HttpRequest) -> HttpResponse:
    """Where Stripe Checkout sends the customer who went back without paying."""
    customer = customer_for_user(request.user)
    if customer is None:
        return _no_customer(request)
    return render(request, "pages/checkout_cancel.html", {"customer": customer})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view, with an HTML alternative in our e-mail layout."""

    html_email_template_name = "registration/password_reset_email.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)
