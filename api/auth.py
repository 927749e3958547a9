"""API authentication: service keys (`Authorization: Bearer <key>`) or a signed-in customer."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from api.models import ServiceKey
from api.service_keys import service_key_authenticate


@dataclass(frozen=True)
class ServiceClient:
    """The `request.user` of a request made with a service key."""

    key: ServiceKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False

    @property
    def pk(self) -> str:
        return f"service-key:{self.key.pk}"


class ServiceKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("Empty bearer token.")
        key = service_key_authenticate(raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service key.")
        return ServiceClient(key=key), key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


def is_service(request) -> bool:
    return isinstance(request.user, ServiceClient)


def signed_in_customer(request):
    """The billing Customer of a signed-in (Django session) user, or None."""
    if is_service(request) or not request.user.is_authenticated:
        return None
    return getattr(request.user, "customer", None)


class IsService(permissions.BasePermission):
    message = "This endpoint needs a service key (Authorization: Bearer <key>)."

    def has_permission(self, request, view) -> bool:
        return is_service(request)


class IsServiceOrCustomer(permissions.BasePermission):
    message = "Sign in as a customer or send a service key (Authorization: Bearer <key>)."

    def has_permission(self, request, view) -> bool:
        return is_service(request) or signed_in_customer(request) is not None


class ServiceKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes service keys in the OpenAPI schema as HTTP bearer auth."""

    target_class = ServiceKeyAuthentication
    name = "serviceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A key made with `manage.py create_service_key NAME`.",
        }
