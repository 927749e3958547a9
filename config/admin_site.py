"""The admin site as a whole: the actions of every registered admin, ours and the
third-party apps' (dj-stripe's resync and sync-all, which call Stripe; django-axes' cleanup),
need the change permission when they declare none, which Django reads as "anyone who may
view". Applied once every app's admin is registered (config/urls.py)."""

from __future__ import annotations

from django.contrib.admin import AdminSite


def actions_need_a_permission(site: AdminSite) -> int:
    """Give the change permission to every action that declares none; returns how many."""
    changed = 0
    for model_admin in site._registry.values():
        for action in model_admin.actions or ():
            function = getattr(model_admin, action) if isinstance(action, str) else action
            function = getattr(function, "__func__", function)
            if not getattr(function, "allowed_permissions", None):
                function.allowed_permissions = ("change",)
                changed += 1
    return changed
