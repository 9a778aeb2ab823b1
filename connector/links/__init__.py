"""One-time Retry links for failed payments, signed portal links, and what guards them.

- `tokens`: random link tokens and their hashes (pure).
- `retry_links`: issue, look up, claim and settle Retry links (table `bridge_retry_links`,
  alembic revision 0004); the invoice handlers' hook.
- `portal_links`: HMAC-signed, expiring `PortalURL`s (pure).
- `rate_limits`: per-invoice and per-address request counters kept in the store.
- `return_urls`: the `return` parameter, only to an allowed origin (pure).
- `decline_reasons`: a card decline in plain words (pure).
"""
