"""``POST /oauth/token``: Caspio's OAuth 2 token endpoint (reference §1).

The form is parsed whatever the ``Content-Type`` (some clients send ``text/plain``);
credentials come from HTTP Basic or the ``client_id``/``client_secret`` form fields.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from werkzeug.wrappers import Request

from sandbox.caspio.auth import TokenIssuer
from sandbox.caspio.http_answers import Answer


def token_answer(tokens: TokenIssuer, request: Request) -> Answer:
    form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True),
                                         keep_blank_values=True).items()}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = _basic_credentials(request.headers.get("Authorization", ""))
    if basic is not None:
        client_id, client_secret = basic
    grant = form.get("grant_type")
    if grant == "client_credentials":
        if not tokens.credentials_match(client_id, client_secret):
            return Answer(400, {"error": "invalid_client"})
        return Answer(200, tokens.issue())
    if grant == "refresh_token":
        if client_id is not None and not tokens.credentials_match(client_id, client_secret):
            return Answer(400, {"error": "invalid_client"})
        if not tokens.knows_refresh_token(form.get("refresh_token", "")):
            return Answer(400, {"error": "invalid_grant"})
        return Answer(200, tokens.issue())
    return Answer(400, {"error": "unsupported_grant_type"})


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password
