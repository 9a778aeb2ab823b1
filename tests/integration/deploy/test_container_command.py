"""The image's command line (the Dockerfile's CMD: gunicorn, deploy/gunicorn.conf.py, the
app factory without the in-process worker) run outside a container on PostgreSQL, as
compose runs it: it answers /healthz (the image's HEALTHCHECK) and /readyz."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import bridge_env
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe
from tests.deploy_files import dockerfile_cmd, local
from tests.deployed import Process, free_port

pytestmark = pytest.mark.postgres


def test_the_image_command_answers_readyz_on_postgresql(postgres_store_url: str,
                                                         tmp_path: Path) -> None:
    port = free_port()
    with run_caspio() as caspio, run_stripe() as stripe_handle:
        env = bridge_env(caspio, stripe_handle, postgres_store_url, port)
        web = Process("web", local(dockerfile_cmd(), port=port), env, tmp_path)
        try:
            web.wait_http(f"http://127.0.0.1:{port}/healthz")
            ready = web.wait_http(f"http://127.0.0.1:{port}/readyz")
            assert ready.json()["status"] == "ready", ready.text
            assert "store" in " ".join(ready.json()["checks"]), ready.text
            assert "gunicorn" in ready.headers.get("Server", "").lower()
        finally:
            assert web.stop() == 0, web.log()
