"""Polling for accounts without Caspio outgoing webhooks: `serve` runs a provisioning pass
every BRIDGE_POLL_SECONDS in a background thread (new `pending` rows, RequestedAction)."""

from __future__ import annotations

import logging
import threading

from connector.billing.provisioning import Provisioner

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, provisioner: Provisioner, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("the polling interval must be above 0 seconds")
        self.provisioner = provisioner
        self.interval = interval_seconds
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="caspio-poller", daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self) -> None:
        try:
            report = self.provisioner.run_pass()
        except Exception:  # a pass that cannot even list rows: log it, try at the next tick
            log.exception("provisioning pass failed")
            return
        finally:
            self.passes += 1
        if any(report.counts.values()):
            log.info("provisioning pass: %s", report.summary())

    def _run(self) -> None:
        # The first pass at once, then one per interval until stopped (the wait is the
        # interval itself, cut short by stop()).
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
