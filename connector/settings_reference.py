"""What each setting means, for the generated settings reference (docs/reference/settings.md).

`connector.settings.VARIABLES` is the list of variables the bridge reads; every one of them
must be described here (a unit test fails otherwise), so the reference cannot fall behind
the code. `python docs/generate.py` rewrites the page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SettingDoc:
    """One row of the reference: when it is needed, its default, and what it does."""

    needed: str
    default: str
    meaning: str
    secret: bool = False


SETTING_DOCS: dict[str, SettingDoc] = {
    "CASPIO_ACCOUNT_URL": SettingDoc(
        "always", "", "Your Caspio integration URL, e.g. `https://c1abc123.caspio.com` "
        "(Caspio: Account > Web Services Profile)."
    ),
    "CASPIO_CLIENT_ID": SettingDoc(
        "always", "", "Client ID of the Caspio Web Services profile the bridge uses."
    ),
    "CASPIO_CLIENT_SECRET": SettingDoc(
        "always", "", "Client secret of that profile.", secret=True
    ),
    "CASPIO_API_VERSION": SettingDoc(
        "no", "`v3`", "`v3` (`/integrations/rest/v3`) or `v2` (`/rest/v2`)."
    ),
    "CASPIO_WEBHOOK_SECRET": SettingDoc(
        "for Caspio outgoing webhooks", "",
        "Secret of the Caspio outgoing webhook that sends new `Billing_Subscriptions` rows "
        "to `POST /caspio/webhook`; deliveries without it are refused.", secret=True,
    ),
    "STRIPE_SECRET_KEY": SettingDoc(
        "always", "", "`sk_test_…`, `sk_live_…` or a restricted `rk_…` key (see Set up Stripe).",
        secret=True,
    ),
    "STRIPE_WEBHOOK_SECRET": SettingDoc(
        "always", "", "`whsec_…` signing secret of the webhook endpoint; two, comma-separated, "
        "while a secret is rolled.", secret=True,
    ),
    "STRIPE_API_BASE": SettingDoc(
        "no", "Stripe itself", "Another Stripe API address: the local emulator of the sandbox."
    ),
    "BRIDGE_PUBLIC_URL": SettingDoc(
        "always", "", "The bridge's public https address; sign-up, retry and portal links "
        "and the webhook endpoint are built from it."
    ),
    "BRIDGE_DATABASE_URL": SettingDoc(
        "no", "`sqlite:///caspio-stripe.db`",
        "The bridge's own store (webhook inbox, retry tokens, what it wrote). "
        "`postgresql://…` when several bridge processes run.",
    ),
    "BRIDGE_MAPPING": SettingDoc(
        "no", "`mappings/default.yaml`", "A YAML file renaming Caspio tables and fields."
    ),
    "BRIDGE_SUCCESS_URL": SettingDoc(
        "for sign-up", "", "The Caspio page the payer returns to after paying."
    ),
    "BRIDGE_CANCEL_URL": SettingDoc(
        "for sign-up", "", "The Caspio page the payer returns to after leaving Checkout."
    ),
    "BRIDGE_ALLOWED_ORIGINS": SettingDoc(
        "no", "none", "Comma-separated origins of your Caspio app (e.g. "
        "`https://c1abc123.caspio.com`) allowed to call the bridge from a browser and to be "
        "a `return` address.",
    ),
    "BRIDGE_ADMIN_TOKEN": SettingDoc(
        "no", "admin API off", "Bearer token (16+ characters) for `/admin/…`.", secret=True
    ),
    "BRIDGE_LINK_SECRET": SettingDoc(
        "no", "derived from `STRIPE_SECRET_KEY`",
        "32+ random characters that sign portal links (`PortalURL`); rolling it (or, unset, "
        "the Stripe key) ends every portal link already written.", secret=True,
    ),
    "BRIDGE_LINK_DAYS": SettingDoc(
        "no", "`30`", "Days a Retry link (`RetryURL`) and a portal link (`PortalURL`) stay "
        "valid (1–365)."
    ),
    "BRIDGE_LOG_FORMAT": SettingDoc(
        "no", "`text`", "`json`: one JSON object per log line, with `event_id`, `event_type`, "
        "`invoice_id` and `caspio_request_id` where known."
    ),
    "BRIDGE_READY_MAX_BACKLOG": SettingDoc(
        "no", "`1000`", "`/readyz` answers 503 while more events than this wait in the inbox."
    ),
    "BRIDGE_POLL_SECONDS": SettingDoc(
        "no", "off", "`serve` looks for new `pending` subscription rows and `RequestedAction` "
        "this often (1–86400 s), for Caspio accounts without outgoing webhooks."
    ),
    "BRIDGE_PAST_DUE_ACCESS": SettingDoc(
        "no", "`true`", "Whether `AccessActive` stays yes while a subscription is `past_due`."
    ),
}


def undocumented(variables: tuple[str, ...]) -> list[str]:
    """Variables the settings read that have no entry above (should be empty)."""
    return [name for name in variables if name not in SETTING_DOCS]
