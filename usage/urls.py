from django.urls import path

from usage.api import views

urlpatterns = [
    path("billing/usage", views.UsageView.as_view(), name="billing-usage"),
    path("billing/usage/history", views.UsageHistoryView.as_view(), name="billing-usage-history"),
    path("api/v1/sessions", views.SessionStartView.as_view(), name="session-start"),
    # <path:>: a session_id the start accepted may hold a "/" (sent as %2F); it must be endable.
    path(
        "api/v1/sessions/<path:session_id>/end", views.SessionEndView.as_view(), name="session-end"
    ),
    path("api/v1/plans", views.PlanListView.as_view(), name="plan-list"),
    path("metrics", views.MetricsView.as_view(), name="metrics"),
]
