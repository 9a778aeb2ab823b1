"""Every endpoint that accepts a body answers a JSON nested 5,000 deep without a
500 with a RecursionError (the app's JSON provider is depth-limited, connector/web/json_body)."""

from __future__ import annotations

import logging
import re

import pytest

from connector.web.admin import jobs_of
from tests.unit.web.test_admin import AUTH, make_app

DEEP = b"[" * 5000 + b"]" * 5000


def _post_routes(app) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"\1_1", rule.rule)
            found.append((method, path))
    return found


def test_every_body_endpoint_refuses_deep_nesting(store, caplog):
    app = make_app(store)
    routes = _post_routes(app)
    paths = {p for _m, p in routes}
    assert {"/caspio/webhook", "/admin/reconcile", "/stripe/webhook"} <= paths
    assert any(p.startswith("/payments/") for p in paths)
    client = app.test_client()
    caplog.set_level(logging.ERROR)
    for method, path in routes:
        response = client.open(
            path, method=method, data=DEEP, headers={**AUTH, "Content-Type": "application/json"}
        )
        # An endpoint that never reads the body (/admin/sync-plans) may accept it.
        assert response.status_code < 500, (method, path, response.status_code)
    assert "RecursionError" not in caplog.text
    # The sync-plans job it started records its end in the store: before the store closes.
    assert jobs_of(app).wait_all(timeout=60)


@pytest.mark.parametrize("path", ["/admin/reconcile", "/payments/in_1/retry"])
def test_a_deep_body_is_a_400(store, path):
    response = (
        make_app(store)
        .test_client()
        .post(path, data=DEEP, headers={**AUTH, "Content-Type": "application/json"})
    )
    assert response.status_code == 400
