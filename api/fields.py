"""Serializer fields the API's endpoints share."""

from __future__ import annotations

from rest_framework import serializers

from accounts.errors import InvalidInput
from accounts.services.sign_in import RETURN_URL_MAX_LENGTH, return_url_clean


class ReturnURLField(serializers.CharField):
    """Where a page sends the customer back: a URL on this site or on an origin of
    PORTAL_RETURN_ORIGINS, or a path on this site (made absolute); "" when omitted. Anything
    else is refused (400), so that no link of ours is an open redirect."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", RETURN_URL_MAX_LENGTH)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("default", "")
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        try:
            return return_url_clean(super().to_internal_value(data))
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.detail) from None
