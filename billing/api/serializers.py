from __future__ import annotations

from rest_framework import serializers


class CheckoutInput(serializers.Serializer):
    plan = serializers.SlugField(max_length=40)
    user_id = serializers.CharField(max_length=255, required=False, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class CheckoutOutput(serializers.Serializer):
    checkoutUrl = serializers.URLField()
    sessionId = serializers.CharField()
