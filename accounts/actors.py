"""The one way to name who made a request, as audit rows and batches record it."""

from __future__ import annotations

import getpass


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
