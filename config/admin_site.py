"""The admin site as a whole: the actions of every registered admin, ours and the
third-party apps' (dj-stripe's resync and sync-all, which call Stripe; django-axes' cleanup),
need the change permission when they declare none, which Django reads as "anyone who may
view", and refuse a selection that is not ids. Applied once every app's admin is registered
(config/urls.py)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import AdminSite, helpers
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode


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


def actions_refuse_a_selection_of_non_ids(site: AdminSite) -> None:
    """Django builds an action's queryset from whatever `_selected_action` holds and fails
    with a 500 on the first value that is not an id of the model (`abc`, a NUL), before any
    permission or confirmation: every registered admin refuses such a selection with a
    message instead, and nothing runs."""
    for model, model_admin in site._registry.items():
        model_admin.response_action = _selection_checked(model, model_admin)


def _selection_checked(model, model_admin):
    respond = model_admin.response_action
    pk = model._meta.pk

    def response_action(request, queryset):
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.to_python(value)
            except ValidationError:
                model_admin.message_user(
                    request,
                    "The selection holds something that is not a row of this list: nothing "
                    "was done. Tick the rows again, then choose the action.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return respond(request, queryset)

    return response_action


def login_returns_to_the_admin(site: AdminSite) -> None:
    """Staff signing in at /admin/login/ land in the admin, not on the customers' usage page
    (LOGIN_REDIRECT_URL): django-unfold's login form has no `next` field, so the admin's index
    goes into the URL the form posts to."""
    login = site.login

    def login_to_the_admin(request, extra_context=None):
        if REDIRECT_FIELD_NAME not in request.GET:
            index = reverse("admin:index", current_app=site.name)
            extra_context = {
                "app_path": f"{request.path}?{urlencode({REDIRECT_FIELD_NAME: index})}",
                **(extra_context or {}),
            }
        return login(request, extra_context)

    site.login = login_to_the_admin


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
            ("auth.user", "Logins (staff and customers)", "person"),
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
