"""The one way to name who made a request, and why, as audit rows and batches record it."""

from __future__ import annotations

import getpass

from django import forms
from django.core.exceptions import ValidationError

from accounts.errors import InvalidInput


def request_actor(request) -> str:
    """ "service key NAME" for a machine caller, "admin:USERNAME" for staff in the admin (a
    batch has no `source` column to say so), the username for a signed-in customer."""
    user = request.user
    key = getattr(user, "key", None)
    if key is not None:
        return f"service key {key.name}"
    match = getattr(request, "resolver_match", None)
    if match is not None and match.app_name == "admin":
        return admin_actor(user)
    return user.get_username() or "anonymous"


def admin_actor(user) -> str:
    """Staff acting in the admin (where only the user, not the request, is at hand)."""
    return f"admin:{user.get_username()}"


def command_actor() -> str:
    """A management command run by hand (or by cron): "command:USER"."""
    return f"command:{getpass.getuser()}"


def posted_reason(request) -> str:
    """Why, as staff typed it in a form's `reason` field: trimmed; InvalidInput for text no
    database column stores (a NUL character), which would otherwise fail the save."""
    try:
        return forms.CharField(required=False).clean(request.POST.get("reason", ""))
    except ValidationError:
        raise InvalidInput(
            "The reason holds a NUL character, which cannot be stored: type it again.",
            field="reason",
        ) from None
