from __future__ import annotations

from rest_framework import serializers

from accounts.fields import InternationalEmailSerializerField
from api.fields import ReturnURLField


class CheckoutInput(serializers.Serializer):
    plan = serializers.SlugField(max_length=40)
    user_id = serializers.CharField(max_length=255, required=False, default="")
    email = InternationalEmailSerializerField(required=False, allow_blank=True, default="")


class CheckoutOutput(serializers.Serializer):
    checkoutUrl = serializers.URLField()
    sessionId = serializers.CharField()


class SubscriptionSwitchInput(serializers.Serializer):
    plan = serializers.SlugField(max_length=40)
    user_id = serializers.CharField(max_length=255, required=False, default="")


class SubscriptionSwitchOutput(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan the customer is on now.")
    status = serializers.CharField(help_text="active, past_due or canceled.")
    direction = serializers.ChoiceField(choices=["upgrade", "downgrade"])
    subscriptionId = serializers.CharField()
    prorationBehavior = serializers.CharField(
        help_text="How Stripe bills the change: `create_prorations` (difference or credit on "
        "the next invoice)."
    )


class BillingPortalInput(serializers.Serializer):
    user_id = serializers.CharField(max_length=255, required=False, default="")
    return_url = ReturnURLField(
        help_text="Where Stripe's portal sends the customer back: a URL on this site or on an "
        "origin of PORTAL_RETURN_ORIGINS (like the portal sessions' return_url); the usage "
        "page when omitted.",
    )


class BillingPortalOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Stripe's billing portal for this customer (brief).")


class SubscriptionCustomerInput(serializers.Serializer):
    user_id = serializers.CharField(max_length=255, required=False, default="")


class SubscriptionPendingOutput(serializers.Serializer):
    plan = serializers.CharField(help_text="The plan the customer is on now (kept until then).")
    pendingPlan = serializers.CharField(
        allow_null=True, help_text="The plan it moves to at the end of the paid period."
    )
    pendingPlanAt = serializers.DateTimeField(
        allow_null=True, help_text="When (the end of the paid period)."
    )


class SubscriptionPreviewInput(serializers.Serializer):
    plan = serializers.SlugField(max_length=40)
    user_id = serializers.CharField(max_length=255, required=False, default="")


class SubscriptionPreviewOutput(serializers.Serializer):
    plan = serializers.CharField()
    prorationAmount = serializers.IntegerField(
        help_text="Cents the switch adds for the rest of the period (negative: a credit)."
    )
    amountDue = serializers.IntegerField(help_text="The next invoice's total, in cents.")
    currency = serializers.CharField()
    nextInvoiceAt = serializers.DateTimeField(allow_null=True)
    prorationText = serializers.CharField(help_text="The proration, formatted.")
    amountDueText = serializers.CharField(help_text="The next invoice's total, formatted.")
