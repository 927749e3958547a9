"""The admin site as a whole: the actions of every registered admin, ours and the
third-party apps' (dj-stripe's resync and sync-all, which call Stripe; django-axes' cleanup),
need the change permission when they declare none, which Django reads as "anyone who may
view". Applied once every app's admin is registered (config/urls.py)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.urls import reverse


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


def app_list_once_per_request(site: AdminSite) -> None:
    """Django's pages (`available_apps`) and the sidebar both read the admin's app list, which
    checks every registered model's permissions (about 6 ms for a superuser): build it once
    per request. Callers only read it."""

    def get_app_list(request, app_label=None):
        build = type(site).get_app_list
        if app_label is not None:
            return build(site, request, app_label)
        if not hasattr(request, "_admin_app_list"):
            request._admin_app_list = build(site, request)
        return request._admin_app_list

    site.get_app_list = get_app_list


# The sidebar (django-unfold's SIDEBAR["navigation"]): our screens by what staff do, then
# dj-stripe's ~45 mirror models in one collapsed group, then whatever else is registered.
# Built per request from the admin's own app list, so each login sees only what it may view.
SIDEBAR_GROUPS = [
    (
        "Customers",
        [
            ("accounts.customer", "Customers", "group"),
            ("accounts.planchange", "Plan history", "history"),
            ("accounts.emailnotification", "E-mails sent", "mail"),
            ("usage.monthlyusage", "Monthly usage", "calendar_month"),
            ("usage.session", "Sessions", "call"),
        ],
    ),
    (
        "Move to session plans",
        [
            ("accounts.migrationbatch", "Migration batches", "move_up"),
            ("accounts.backgroundjob", "Background jobs", "hourglass"),
        ],
    ),
    (
        "Catalogue",
        [
            ("accounts.plan", "Plans", "sell"),
            ("accounts.minutespersessionchange", "Minutes per session", "tune"),
        ],
    ),
    (
        "Stripe",
        [
            ("billing.stripepricemove", "Price moves", "currency_exchange"),
            ("djstripe.webhookeventtrigger", "Webhook ledger", "webhook"),
        ],
    ),
    (
        "Operations",
        [
            ("api.servicekey", "Service keys", "key"),
            ("django_tasks_database.dbtaskresult", "Task queue", "queue"),
            ("auth.user", "Staff logins", "person"),
            ("auth.group", "Staff groups", "groups"),
        ],
    ),
]
MIRROR_APP = "djstripe"


def sidebar_navigation(request) -> list[dict]:
    models = {
        f"{app['app_label']}.{model['object_name'].lower()}": model
        for app in admin.site.get_app_list(request)
        for model in app["models"]
        if model.get("admin_url")
    }
    groups = [
        {
            "title": "Overview",
            "items": [{"title": "Dashboard", "icon": "dashboard", "link": reverse("admin:index")}],
        }
    ]
    placed = set()
    for title, entries in SIDEBAR_GROUPS:
        items = []
        for label, name, icon in entries:
            if label in models:
                items.append({"title": name, "icon": icon, "link": models[label]["admin_url"]})
                placed.add(label)
        if items:
            groups.append({"title": title, "separator": True, "items": items})
    for title, in_group in (
        ("Stripe mirror (dj-stripe)", lambda label: label.startswith(f"{MIRROR_APP}.")),
        ("Other", lambda label: not label.startswith(f"{MIRROR_APP}.")),
    ):
        rest = sorted(
            (model["name"], model["admin_url"])
            for label, model in models.items()
            if label not in placed and in_group(label)
        )
        if rest:
            groups.append(
                {
                    "title": title,
                    "separator": True,
                    "collapsible": True,
                    "items": [{"title": str(name), "link": url} for name, url in rest],
                }
            )
    return groups
