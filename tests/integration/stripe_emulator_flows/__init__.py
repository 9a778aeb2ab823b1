"""Stripe emulator flows past plain subscriptions: schedules, Checkout, the portal, refunds,
disputes, payouts, and every object's keys against Stripe's fixtures."""
