"""A local emulator of the Caspio REST API (v2/v3) for tests, benchmarks and the sandbox.

``connector/`` never imports this package.

In tests::

    with run_emulator(token_ttl_seconds=60, clock=ManualClock()) as running:
        client = CaspioClient(running.base_url, running.client_id, running.client_secret)
        running.controls.set_faults(fail_next=2)      # see sandbox.caspio.faults
        running.controls.expire_tokens()
        running.controls.configure_webhook("Billing_Subscriptions", url, secret)
        running.controls.webhooks.wait_idle(5)
        running.controls.calls()                      # {(method, table, status): n}

or the pytest fixtures ``caspio_emulator`` / ``fresh_caspio_emulator``
(``sandbox.caspio.pytest_plugin``). Standalone: ``python -m sandbox.caspio --port 8711``.
Behaviour, what clients may send and where it differs from Caspio: ``sandbox/caspio/README.md``;
the choices made where Caspio is undocumented: ``sandbox.caspio.app`` and
``sandbox.caspio.errors``.
"""

from sandbox.caspio.app import CaspioEmulator
from sandbox.caspio.clock import ManualClock
from sandbox.caspio.server import RunningEmulator, run_emulator

__all__ = ["CaspioEmulator", "ManualClock", "RunningEmulator", "run_emulator"]
