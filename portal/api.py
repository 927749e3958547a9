"""`POST /api/v1/portal-sessions`: the customer dashboard sends its user to the portal with a
one-time sign-in link (like Stripe's billing-portal sessions)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import SignInPurpose
from accounts.services.customers import customer_get
from accounts.services.sign_in import (
    PORTAL_SESSION_TTL,
    sign_in_link_create,
)
from api.auth import IsService
from api.fields import ReturnURLField

ERROR = OpenApiResponse(description='`{"code": …, "detail": …}`')


class PortalSessionInput(serializers.Serializer):
    user_id = serializers.CharField(max_length=255)
    return_url = ReturnURLField(
        help_text='Where "Back to dashboard" leads: this site or an origin of '
        "PORTAL_RETURN_ORIGINS."
    )


class PortalSessionOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Send the customer's browser here; it works once.")
    expiresAt = serializers.DateTimeField(help_text="When the link stops working (UTC).")


class PortalSessionView(APIView):
    permission_classes = [IsService]

    @extend_schema(
        summary="A one-time link that signs a customer in to the portal",
        description=(
            "For the customer dashboard: send the customer's browser to `url`. It signs that "
            "customer in once and lands on the usage page; it expires after "
            f"{int(PORTAL_SESSION_TTL.total_seconds() // 60)} minutes. `return_url` (this site "
            'or an origin of PORTAL_RETURN_ORIGINS) is where "Back to dashboard" leads. A '
            "customer without a login gets one on its first sign-in. Errors: 400 bad input or "
            "a `return_url` on another origin; 401 no service key; 404 unknown `user_id`."
        ),
        request=PortalSessionInput,
        responses={201: PortalSessionOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
    )
    def post(self, request):
        data = PortalSessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        customer = customer_get(external_id=fields["user_id"])
        minted = sign_in_link_create(
            customer=customer,
            purpose=SignInPurpose.PORTAL_SESSION,
            return_url=fields["return_url"],
        )
        return Response(
            PortalSessionOutput({"url": minted.url, "expiresAt": minted.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )
