from django.urls import path

from billing.api import views

urlpatterns = [
    path("billing/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
]
