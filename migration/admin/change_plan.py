"""The customer page's "Change plan": one confirmation page that shows old → new (price,
quota, limits) and what happens at Stripe, asks when (now or at the end of the paid period),
how Stripe bills it (no proration by default, or prorated) and why, then calls
`staff_plan_change`, the path `manage.py customer_set_plan` takes too."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.actors import request_actor
from accounts.errors import BillingError
from accounts.formatting import count, moment, money
from accounts.models import ChangeSource, Customer, Plan
from accounts.services.plan_change import PRORATION_NONE, PRORATION_PRORATED
from accounts.services.staff_plan_change import (
    NOW,
    WHEN_CHOICES,
    staff_plan_change,
    staff_plan_change_plan,
)
from accounts.templatetags.plan_terms import quota

PRORATION_CHOICES = (
    (PRORATION_NONE, "No proration: the next invoice bills the new price"),
    (PRORATION_PRORATED, "Prorated: the difference for the rest of this period"),
)


class ChangePlanForm(forms.Form):
    # Nothing chosen at first: the first plan in the list (Free) would be a downgrade.
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), empty_label="Choose a plan…")
    when = forms.ChoiceField(choices=WHEN_CHOICES, initial=NOW, widget=forms.RadioSelect)
    proration = forms.ChoiceField(
        choices=PRORATION_CHOICES,
        initial=PRORATION_NONE,
        widget=forms.RadioSelect,
        help_text="For a subscription moved now to another paid plan.",
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Required; kept in the customer's plan history.",
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.exclude(pk=customer.plan_id)
        self.fields["plan"].label_from_instance = lambda plan: (
            f"{plan.name} — {money(plan.price_cents, plan.currency, short=True)}/mo"
        )


def plan_comparison(old: Plan, new: Plan) -> list[dict]:
    """Old → new, one row per term staff compare."""
    price = (money(old.price_cents, old.currency), money(new.price_cents, new.currency))
    rows = [
        ("Price / month", *price),
        ("Quota / month", quota(old), quota(new)),
        ("Billing unit", old.get_billing_unit_display(), new.get_billing_unit_display()),
        ("Requests / minute", count(old.requests_per_minute), count(new.requests_per_minute)),
        (
            "Concurrent sessions",
            count(old.max_concurrent_sessions),
            count(new.max_concurrent_sessions),
        ),
        ("Projects", count(old.max_projects), count(new.max_projects)),
        ("Support", old.support, new.support),
        ("SLA", old.sla or "—", new.sla or "—"),
        ('"Powered by AI-Gate" badge', "yes" if old.badge else "no", "yes" if new.badge else "no"),
    ]
    return [{"term": t, "old": o, "new": n, "changed": o != n} for t, o, n in rows]


class CustomerChangePlanMixin:
    """For CustomerAdmin: the "Change plan" page and the plan summary with its button."""

    change_plan_template = "admin/migration/customer/change_plan.html"

    def change_plan_urls(self) -> list:
        return [
            path(
                "<path:object_id>/change-plan/",
                self.admin_site.admin_view(self.change_plan_view),
                name="accounts_customer_change_plan",
            )
        ]

    def change_plan_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            customer = Customer.objects.select_related("plan", "pending_plan").get(
                pk=unquote(object_id)
            )
        except (Customer.DoesNotExist, ValueError):  # no such id, or not an id at all
            raise Http404("No customer has this id.") from None
        if not self.has_change_permission(request, customer):
            raise PermissionDenied
        form = ChangePlanForm(request.POST if request.method == "POST" else None, customer=customer)
        # The preview needs no reason yet; the change does.
        form.fields["reason"].required = "apply" in request.POST
        planned = None
        valid = form.is_bound and form.is_valid()
        data = form.cleaned_data if form.is_bound else {}
        # The preview shows as soon as the plan, the date and the proration are chosen.
        if form.is_bound and {"plan", "when", "proration"} <= data.keys():
            try:
                planned = staff_plan_change_plan(
                    customer=customer,
                    plan=data["plan"],
                    when=data["when"],
                    proration_behavior=data["proration"],
                )
                if valid and "apply" in request.POST:
                    change = staff_plan_change(
                        customer=customer,
                        plan=data["plan"],
                        when=data["when"],
                        proration_behavior=data["proration"],
                        source=ChangeSource.ADMIN,
                        actor=request_actor(request),
                        reason=data["reason"],
                    )
                    self.message_user(request, _done_message(planned, change), messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:accounts_customer_change", args=[customer.pk])
                    )
            except BillingError as exc:
                field = exc.extra.get("field")
                form.add_error(field if field in form.fields else None, exc.detail)
                planned = None
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change plan: {customer.external_id}",
            "opts": opts,
            "original": customer,
            "customer": customer,
            "form": form,
            "planned": planned,
            "comparison": plan_comparison(customer.plan, planned.to_plan) if planned else None,
            "history": customer.plan_changes.select_related("from_plan", "to_plan")[:5],
        }
        return TemplateResponse(request, self.change_plan_template, context)

    def plan_summary(self, customer: Customer):
        """The plan as staff read it on the customer's page, with the "Change plan" button."""
        if customer.pk is None:
            return "—"
        parts = [format_html("<strong>{}</strong>", customer.plan.name)]
        if customer.complimentary:
            parts.append(
                format_html(
                    ' <span class="flag flag-more" data-testid="complimentary">{}</span>',
                    "complimentary",
                )
            )
        if customer.pending_plan_id:
            parts.append(
                format_html(
                    ' · <span data-testid="pending-plan">moves to {} on {} UTC</span>',
                    customer.pending_plan.name,
                    moment(customer.pending_plan_at),
                )
            )
        url = reverse("admin:accounts_customer_change_plan", args=[customer.pk])
        parts.append(format_html(' <a class="button" href="{}">Change plan</a>', url))
        return format_html("{}" * len(parts), *parts)

    plan_summary.short_description = "plan"


def _done_message(planned, change) -> str:
    who = planned.customer.external_id
    if planned.effective_at is not None:
        return (
            f"{who} moves from {planned.from_plan.name} to {planned.to_plan.name} on "
            f"{moment(planned.effective_at)} UTC (recorded as change {change.pk}). "
            f"{planned.stripe_effect}"
        )
    extra = " (complimentary)" if change.complimentary else ""
    return (
        f"{who} moved from {planned.from_plan.name} to {planned.to_plan.name}{extra} "
        f"(recorded as change {change.pk}). {planned.stripe_effect}"
    )
