"""`POST /billing/checkout`: start a Stripe Checkout for a plan."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import CheckoutInput, CheckoutOutput
from billing.services.checkout import (
    checkout_customer_resolve,
    checkout_plan_get,
    checkout_session_create,
)
from usage.api.auth import IsServiceOrCustomer, is_service, signed_in_customer

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
        if is_service(request):
            if not fields["user_id"]:
                raise ValidationError({"user_id": ["This field is required with a service key."]})
            external_id = fields["user_id"]
        else:
            external_id = signed_in_customer(request).external_id
            if fields["user_id"] and fields["user_id"] != external_id:
                raise PermissionDenied("A customer may start a Checkout only for itself.")
        customer = checkout_customer_resolve(external_id=external_id, email=fields["email"])
        # Stripe sends the browser back to the customer pages' return views.
        site = settings.SITE_URL.rstrip("/")
        success = reverse("billing-checkout-success")
        url, session_id = checkout_session_create(
            customer=customer,
            plan=plan,
            success_url=f"{site}{success}?plan={plan.code}&session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=site + reverse("billing-checkout-cancel"),
        )
        return Response(
            CheckoutOutput({"checkoutUrl": url, "sessionId": session_id}).data,
            status=status.HTTP_201_CREATED,
        )
