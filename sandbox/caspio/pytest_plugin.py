"""pytest fixtures for the Caspio emulator (registered in ``tests/conftest.py``).

- ``caspio_emulator``: one served emulator for the whole session (``.base_url``,
  ``.client_id``, ``.client_secret``, ``.controls``/``.emulator``, ``.fresh()``). State is
  shared between tests; call ``caspio_emulator.fresh()`` to start from an empty account.
- ``fresh_caspio_emulator``: the same server, reset before the test.

Tests that need their own options (a manual clock, a short token lifetime) use
``sandbox.caspio.run_emulator(**options)`` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.caspio.server import RunningEmulator, run_emulator


@pytest.fixture(scope="session")
def caspio_emulator() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running


@pytest.fixture
def fresh_caspio_emulator(caspio_emulator: RunningEmulator) -> RunningEmulator:
    return caspio_emulator.fresh()
