from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import sign_in, views
from portal.api import PortalSessionView

urlpatterns = [
    # Django's auth views under accounts/; those declared first replace the defaults.
    path("accounts/login/", sign_in.LoginView.as_view(), name="login"),
    path("accounts/login/link/", sign_in.email_link_request, name="sign-in-email"),
    path("accounts/login/link/sent/", sign_in.email_link_sent, name="sign-in-email-sent"),
    path("accounts/link/<str:token>/", sign_in.sign_in_link, name="sign-in-link"),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    # Own template names: the admin renders registration/password_change_*.html for staff.
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(template_name="accounts/password_change_form.html"),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/usage/", views.usage_page, name="account-usage"),
    path("pricing/", views.pricing_page, name="pricing"),
    path("billing/success/", views.checkout_success, name="billing-checkout-success"),
    path("billing/cancel/", views.checkout_cancel, name="billing-checkout-cancel"),
    path("", views.home, name="home"),
    path("api/v1/portal-sessions", PortalSessionView.as_view(), name="portal-sessions"),
]
