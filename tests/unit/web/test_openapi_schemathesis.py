"""Schemathesis against /openapi.json: no server error, no answer outside its schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from caspio_client import CaspioClient
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.services import Services
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.web import openapi
from mappings import load_mapping

TOKEN = "admin-token-for-schemathesis"


@pytest.fixture
def app(tmp_path, fresh_caspio_emulator, stripe_emulator) -> Iterator[object]:
    caspio = fresh_caspio_emulator
    config = Settings.for_tests(
        bridge_admin_token=TOKEN,
        bridge_database_url=f"sqlite:///{tmp_path}/api.db",
        caspio_account_url=caspio.base_url,
        caspio_client_id=caspio.client_id,
        caspio_client_secret=caspio.client_secret,
        caspio_webhook_secret="caspio-webhook-secret",
        stripe_secret_key=stripe_emulator.api_key,
        stripe_api_base=stripe_emulator.base_url,
    )
    store = Store.from_url(config.bridge_database_url)
    client = CaspioClient(caspio.base_url, caspio.client_id, caspio.client_secret, max_attempts=1)
    init_caspio(client, load_mapping())
    services = Services(
        settings=config,
        caspio=client,
        stripe=StripeGateway(
            stripe_emulator.api_key, api_base=stripe_emulator.base_url, max_network_retries=0
        ),
        store=store,
    )
    application = create_app(config, services=services)
    yield application
    from connector.web.admin import jobs_of

    assert jobs_of(application).wait_all(timeout=30)
    store.dispose()


def test_every_endpoint_answers_within_its_description(app):
    """Each operation, with generated inputs, with and (for /admin) without the token."""
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance]
    tried = []
    for result in api.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=checks)
            if case.path.startswith("/admin/"):
                case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks)

        run()
    assert len(tried) >= 14, tried


def test_the_document_lists_every_public_endpoint(app):
    document = app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    served = {
        (path, method)
        for path, method in openapi.served(app)
        if method != "head"
        and path != "/static/{filename}"
        and not (method == "options" and "retry" not in path)
    }
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served - described == set(), "endpoints without a description"
