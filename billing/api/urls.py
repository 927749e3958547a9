from django.urls import path

from billing.api import views

urlpatterns = [
    path("billing/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path(
        "billing/subscription",
        views.SubscriptionSwitchView.as_view(),
        name="billing-subscription",
    ),
    path("billing/portal", views.BillingPortalView.as_view(), name="billing-portal"),
    path(
        "billing/subscription/cancel",
        views.SubscriptionCancelView.as_view(),
        name="billing-subscription-cancel",
    ),
    path(
        "billing/subscription/resume",
        views.SubscriptionResumeView.as_view(),
        name="billing-subscription-resume",
    ),
    path(
        "billing/subscription/preview",
        views.SubscriptionPreviewView.as_view(),
        name="billing-subscription-preview",
    ),
]
