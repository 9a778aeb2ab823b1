"""``python -m sandbox.caspio``: prints where it listens and the credentials, then serves."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests

from tests.reference import PROJECT_ROOT


def test_standalone_server_prints_settings_and_serves(tmp_path):
    db = tmp_path / "caspio.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.caspio", "--port", "0", "--db", str(db),
         "--client-id", "my-id", "--client-secret", "my-secret",
         "--webhook", "Billing_Subscriptions", "http://127.0.0.1:9/hook", "s3cret"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        base_url = lines["CASPIO_ACCOUNT_URL"]
        assert base_url.startswith("http://127.0.0.1:")
        assert (lines["CASPIO_CLIENT_ID"], lines["CASPIO_CLIENT_SECRET"]) == ("my-id",
                                                                               "my-secret")
        assert requests.get(base_url + "/_emulator/health", timeout=10).json() == {"ok": True}
        token = requests.post(base_url + "/oauth/token", timeout=10, data={
            "grant_type": "client_credentials", "client_id": "my-id",
            "client_secret": "my-secret"})
        assert token.status_code == 200
        hooks = requests.get(base_url + "/_emulator/webhooks", timeout=10).json()
        assert [(t["table"], t["url"]) for t in hooks["targets"]] == [
            ("Billing_Subscriptions", "http://127.0.0.1:9/hook")]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()
    assert db.exists()
