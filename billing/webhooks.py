"""Stripe webhook receivers (see the Stripe issue); nothing is registered yet."""
