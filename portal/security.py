"""The customers' pages send a Content-Security-Policy: scripts and styles only from this site
(the pages have no inline script; the usage bar's width is an inline style), no frames, forms
posting only here. The admin keeps Django's own headers."""

from __future__ import annotations

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    def process_response(self, request, response):
        if (
            response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(settings.CSP_EXEMPT_PREFIXES)
            and "Content-Security-Policy" not in response
        ):
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response
