"""The customers' pages: sign-in, usage, pricing and the return from Stripe Checkout."""
