"""The ``/_emulator/`` HTTP controls: the same switches as ``CaspioEmulator``'s methods."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from sandbox.caspio.http_answers import Answer

if TYPE_CHECKING:
    from sandbox.caspio.app import CaspioEmulator


def control_answer(emulator: CaspioEmulator, endpoint: str, request: Request) -> Answer:
    """Run one control; a bad setting is a 400 ``{"error": ...}``."""
    try:
        return _answer(emulator, endpoint, request)
    except (ValueError, TypeError, KeyError) as error:
        return Answer(400, {"error": str(error)})


def _answer(emulator: CaspioEmulator, endpoint: str, request: Request) -> Answer:
    if endpoint == "c_health":
        return Answer(200, {"ok": True})
    if endpoint == "c_calls":
        return Answer(200, emulator.meter.to_json())
    if endpoint == "c_calls_reset":
        emulator.reset_calls()
        return Answer(204)
    if endpoint == "c_faults":
        if request.method == "POST":
            changes = _control_json(request)
            if "outages" in changes:
                changes["outages"] = [tuple(window) for window in changes["outages"]]
            emulator.set_faults(**changes)
        return Answer(200, emulator.faults.settings.to_json())
    if endpoint == "c_faults_reset":
        emulator.reset_faults()
        return Answer(204)
    if endpoint == "c_tokens_expire":
        emulator.expire_tokens()
        return Answer(204)
    if endpoint == "c_webhooks":
        if request.method == "POST":
            config = _control_json(request)
            target = emulator.configure_webhook(
                str(config["table"]), str(config["url"]), str(config.get("secret", "")),
                config.get("events", ["table.recordInsert"]),
            )
            return Answer(201, target.to_json())
        return Answer(200, {
            "targets": [t.to_json() for t in emulator.webhooks.targets()],
            "deliveries": [d.to_json() for d in emulator.webhooks.deliveries()],
        })
    emulator.reset()  # c_reset
    return Answer(204)


def _control_json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body
