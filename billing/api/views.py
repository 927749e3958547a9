"""`POST /billing/checkout`: start a Stripe Checkout for a plan; `POST /billing/subscription`:
switch a subscriber's live subscription to another plan; `POST /billing/portal`: open Stripe's
billing portal."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import request_actor
from accounts.formatting import money
from accounts.services.customers import customer_get
from api.auth import IsServiceOrCustomer, is_service, signed_in_customer
from billing.api.serializers import (
    BillingPortalInput,
    BillingPortalOutput,
    CheckoutInput,
    CheckoutOutput,
    SubscriptionCustomerInput,
    SubscriptionPendingOutput,
    SubscriptionPreviewInput,
    SubscriptionPreviewOutput,
    SubscriptionSwitchInput,
    SubscriptionSwitchOutput,
)
from billing.services.billing_portal import billing_portal_session_start
from billing.services.checkout import checkout_plan_get, checkout_start
from billing.services.plan_switch import PRORATION_BEHAVIOR, subscription_switch_plan
from billing.services.self_service import (
    subscription_keep,
    subscription_move_to_free,
    subscription_switch_preview,
)

ERROR = OpenApiResponse(description='`{"code": …, "detail": …}`')


class CheckoutView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Start a Stripe Checkout that subscribes a customer to a paid plan",
        description="A service key names the customer with `user_id` (an unknown one is "
        "provisioned on the free plan); a signed-in customer may omit it. Send the customer's "
        "browser to `checkoutUrl`; the plan changes when Stripe reports the paid subscription.",
        request=CheckoutInput,
        responses={
            201: CheckoutOutput,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            409: ERROR,
            503: OpenApiResponse(description="`stripe_unavailable`: Stripe is unreachable"),
        },
    )
    def post(self, request):
        data = CheckoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        plan = checkout_plan_get(code=fields["plan"])
        external_id = _caller_customer_id(
            request, fields["user_id"], refusal="A customer may start a Checkout only for itself."
        )
        # Stripe sends the browser back to the customer pages' return views.
        site = settings.SITE_URL.rstrip("/")
        success = reverse("billing-checkout-success")
        url, session_id = checkout_start(
            external_id=external_id,
            email=fields["email"],
            plan=plan,
            success_url=f"{site}{success}?plan={plan.code}&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=site + reverse("billing-checkout-cancel"),
        )
        return Response(
            CheckoutOutput({"checkoutUrl": url, "sessionId": session_id}).data,
            status=status.HTTP_201_CREATED,
        )


class SubscriptionSwitchView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Switch a subscriber's live Stripe subscription to another paid plan",
        description="For a customer who already pays through a subscription (Checkout answers "
        "409 `subscription_exists` for them). The change takes effect now and Stripe prorates "
        "it: an upgrade adds the difference for the rest of the period to the next invoice, a "
        "downgrade credits the unused part. The answer already shows the new plan; the "
        "webhook about the same change changes nothing more. A service key names the customer "
        "with `user_id`; a signed-in customer may omit it. Errors: 400 unknown, free or legacy "
        "plan; 404 unknown `user_id`; 409 `conflict` (already on that plan), "
        "`no_subscription` (no live subscription: use `POST /billing/checkout`), `past_due` "
        "(pay the failed invoice first), `usage_over_plan` (this month's sessions do not fit "
        "the smaller plan).",
        request=SubscriptionSwitchInput,
        responses={
            200: SubscriptionSwitchOutput,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: OpenApiResponse(
                description="`stripe_unavailable`: Stripe is unreachable; nothing changed"
            ),
        },
    )
    def post(self, request):
        data = SubscriptionSwitchInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        plan = checkout_plan_get(code=fields["plan"])
        external_id = _caller_customer_id(
            request, fields["user_id"], refusal="A customer may switch only its own plan."
        )
        customer = customer_get(external_id=external_id)
        switch = subscription_switch_plan(
            customer=customer, plan=plan, actor=request_actor(request)
        )
        return Response(
            SubscriptionSwitchOutput(
                {
                    "plan": switch.plan.code,
                    "status": switch.status,
                    "direction": switch.direction,
                    "subscriptionId": switch.subscription_id,
                    "prorationBehavior": PRORATION_BEHAVIOR,
                }
            ).data
        )


class BillingPortalView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Open Stripe's billing portal (card, invoices, cancellation) for a customer",
        description="For a customer who has paid through Stripe. Send the customer's browser "
        "to `url` (valid for a few minutes); the portal sends it back to `return_url`, or to the "
        "usage page when omitted. What the customer changes there (a new card paying the open "
        "invoice, a cancellation at the period's end) reaches the plan through Stripe's "
        "webhooks. A service key names the customer with `user_id`; a signed-in customer may "
        "omit it. Errors: 400 bad `return_url`; 404 unknown `user_id`; 409 "
        "`no_stripe_customer` (never paid: nothing to manage).",
        request=BillingPortalInput,
        responses={
            201: BillingPortalOutput,
            400: ERROR,
            401: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: OpenApiResponse(description="`stripe_unavailable`: Stripe is unreachable"),
        },
    )
    def post(self, request):
        data = BillingPortalInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        external_id = _caller_customer_id(
            request, fields["user_id"], refusal="A customer may open only its own billing."
        )
        customer = customer_get(external_id=external_id)
        return_url = fields["return_url"] or (
            settings.SITE_URL.rstrip("/") + reverse("account-usage")
        )
        url = billing_portal_session_start(customer=customer, return_url=return_url)
        return Response(BillingPortalOutput({"url": url}).data, status=status.HTTP_201_CREATED)


class SubscriptionCancelView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Move a subscriber to Free at the end of its paid period",
        description="The subscription is set to cancel at the end of the period already paid; "
        "the customer keeps its plan until Stripe ends the subscription, then moves to Free. "
        "Undo with `POST /billing/subscription/resume`. Errors: 404 unknown `user_id`; 409 "
        "`no_subscription` (nothing to cancel), `conflict` (already moving to Free).",
        request=SubscriptionCustomerInput,
        responses={200: SubscriptionPendingOutput, 400: ERROR, 401: ERROR, 403: ERROR,
                   404: ERROR, 409: ERROR, 503: ERROR},
    )  # fmt: skip
    def post(self, request):
        customer = _customer_of(request, refusal="A customer may cancel only its own plan.")
        subscription_move_to_free(customer=customer, actor=request_actor(request))
        return Response(_pending(customer))


class SubscriptionResumeView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Undo a move to Free at the end of the paid period",
        description="The subscription renews again and the customer keeps its plan. Errors: "
        "404 unknown `user_id`; 409 `conflict` (no move pending).",
        request=SubscriptionCustomerInput,
        responses={200: SubscriptionPendingOutput, 400: ERROR, 401: ERROR, 403: ERROR,
                   404: ERROR, 409: ERROR},
    )  # fmt: skip
    def post(self, request):
        customer = _customer_of(request, refusal="A customer may change only its own plan.")
        subscription_keep(customer=customer, actor=request_actor(request))
        return Response(_pending(customer))


class SubscriptionPreviewView(APIView):
    permission_classes = [IsServiceOrCustomer]

    @extend_schema(
        summary="Preview a switch: Stripe's upcoming invoice with the prorated amount",
        description="Nothing changes. `prorationAmount` is what switching now adds to the next "
        "invoice for the rest of this period (negative: a credit); `amountDue` that invoice's "
        "total. Errors as for `POST /billing/subscription`.",
        parameters=[SubscriptionPreviewInput],
        responses={200: SubscriptionPreviewOutput, 400: ERROR, 401: ERROR, 403: ERROR,
                   404: ERROR, 409: ERROR, 503: ERROR},
    )  # fmt: skip
    def get(self, request):
        data = SubscriptionPreviewInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        plan = checkout_plan_get(code=data.validated_data["plan"])
        external_id = _caller_customer_id(
            request, data.validated_data["user_id"], refusal="A customer may preview only its own."
        )
        preview = subscription_switch_preview(
            customer=customer_get(external_id=external_id), plan=plan
        )
        return Response(
            SubscriptionPreviewOutput(
                {
                    "plan": plan.code,
                    "prorationAmount": preview.proration_cents,
                    "amountDue": preview.amount_due_cents,
                    "currency": preview.currency,
                    "nextInvoiceAt": preview.next_invoice_at,
                    "prorationText": money(preview.proration_cents, preview.currency),
                    "amountDueText": money(preview.amount_due_cents, preview.currency),
                }
            ).data
        )


def _customer_of(request, *, refusal: str):
    data = SubscriptionCustomerInput(data=request.data)
    data.is_valid(raise_exception=True)
    external_id = _caller_customer_id(request, data.validated_data["user_id"], refusal=refusal)
    return customer_get(external_id=external_id)


def _pending(customer) -> dict:
    customer.refresh_from_db()
    return SubscriptionPendingOutput(
        {
            "plan": customer.plan.code,
            "pendingPlan": customer.pending_plan.code if customer.pending_plan_id else None,
            "pendingPlanAt": customer.pending_plan_at,
        }
    ).data


def _caller_customer_id(request, user_id: str, *, refusal: str) -> str:
    """The `user_id` a request acts for: any named one with a service key; a signed-in
    customer only itself (PermissionDenied, 403, for another)."""
    if is_service(request):
        if not user_id:
            raise ValidationError({"user_id": ["This field is required with a service key."]})
        return user_id
    external_id = signed_in_customer(request).external_id
    if user_id and user_id != external_id:
        raise PermissionDenied(refusal)
    return external_id
