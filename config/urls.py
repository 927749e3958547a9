from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing.webhooks import stripe_webhook
from config.admin_site import (
    actions_need_a_permission,
    actions_refuse_a_selection_of_non_ids,
    app_list_once_per_request,
    login_returns_to_the_admin,
)
from config.health import healthz

# Every admin action declares a permission (third-party ones get "change").
actions_need_a_permission(admin.site)
actions_refuse_a_selection_of_non_ids(admin.site)
app_list_once_per_request(admin.site)
login_returns_to_the_admin(admin.site)

admin.site.site_header = "AI-Gate billing"
admin.site.site_title = "AI-Gate billing"
admin.site.index_title = "Plans, customers and the move to session pricing"

urlpatterns = [
    # First: the metering API's hot paths, tried before every other pattern (issue 14).
    path("", include("usage.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("webhooks/stripe", stripe_webhook, name="stripe-webhook"),
    path("", include("billing.api.urls")),
    # Customer pages: sign-in (Django auth under accounts/), usage, pricing, checkout return.
    path("", include("portal.urls")),
]

handler400 = "api.hostile.json_bad_request"
handler404 = "api.errors.json_not_found"
handler500 = "api.errors.json_server_error"
