"""One module per Stripe event family; each handler is an idempotent, keyed Caspio upsert.

A handler takes (SyncContext, event dict) and returns the inbox status to settle with:
`done`, or `ignored` when the event concerns nothing the bridge tracks. Raising means
"try again later" (the worker's backoff and dead-letter apply).
"""
