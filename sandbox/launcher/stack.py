"""The whole product on loopback ports: both emulators, the bridge and its worker.

``Sandbox(options).start()`` brings everything up in threads of this process, keeping all
state in one data folder:

- ``caspio.sqlite``: the Caspio emulator's tables (it is SQLite-backed),
- ``stripe.state``: the Stripe emulator's objects and clock
  (``sandbox.stripe.persistence``), saved after every request that may change them, before
  the answer is sent, so a killed sandbox resumes with what its callers were told,
- ``bridge.sqlite``: the bridge's own store (inbox, memory),
- ``sandbox.json``: the ports and the webhook secrets, so a restart finds the same URLs,
- ``sandbox.lock``: locked (``flock``) for the life of the process, so a second sandbox on
  the same folder refuses to start instead of overwriting this one's state; the kernel drops
  the lock when the process dies, however it dies.

On a fresh folder it creates the tables (``caspio init``), seeds the demo plans, syncs
them (``sync-plans``) and creates the Stripe webhook endpoint (``stripe setup-webhook``),
all through the bridge's own code. ``stop()`` finishes deliveries, stops the worker and
servers and saves the Stripe state.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.caspio.datapages import DataPages
from sandbox.caspio.server import RunningEmulator, start_emulator
from sandbox.launcher.demo_plans import demo_plans
from sandbox.stripe import persistence
from sandbox.stripe.emulator import StripeEmulator
from sandbox.stripe.server import API_KEY, QuietHandler

_log = logging.getLogger("sandbox.launcher")
HOST = "127.0.0.1"
DEFAULT_PORTS = {"bridge": 8001, "caspio": 8101, "stripe": 8201}
STATE_FILE = "sandbox.json"
SETTLE_TIMEOUT = 30.0
LOCK_FILE = "sandbox.lock"
STRIPE_STATE = "stripe.state"
CREATED_FILES = ("caspio.sqlite", "bridge.sqlite", "bridge.sqlite-wal", "bridge.sqlite-shm",
                 STRIPE_STATE)
# Requests that cannot change the emulator's state (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class SandboxOptions:
    data_dir: Path
    reset: bool = False
    # None: the port of the last run in this folder, else DEFAULT_PORTS; 0: any free port.
    ports: dict[str, int | None] = field(default_factory=dict)
    on_line: Callable[[str], None] = lambda line: None


class SandboxError(RuntimeError):
    """The sandbox cannot start; the message is one line for the person running it."""


class SandboxInUse(SandboxError):
    """Another running sandbox holds the data folder (the command exits 2)."""


def _serve(app: Any, port: int, name: str) -> tuple[BaseWSGIServer, threading.Thread]:
    try:
        server = make_server(HOST, port, app, threaded=True, request_handler=QuietHandler)
    except OSError as error:
        raise SandboxError(f"cannot listen on {HOST}:{port} for the {name}: {error.strerror}; "
                           f"choose another port (--{name}-port)") from error
    # A short poll interval makes shutdown quick.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"sandbox-{name}",
                              daemon=True)
    thread.start()
    return server, thread


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


class Sandbox:
    """One running sandbox; also the DataPages' ``SandboxPanel``."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.caspio: RunningEmulator | None = None
        self.stripe: StripeEmulator | None = None
        self.stripe_url = ""
        self.bridge_url = ""
        self.services: Any = None
        self.worker: Any = None
        self._servers: list[tuple[BaseWSGIServer, threading.Thread]] = []
        self._state: dict[str, Any] = {}
        self._scenarios: Any = None
        self._stopped = False
        self._saving = threading.Lock()  # requests and pages save concurrently
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ start

    @property
    def caspio_url(self) -> str:
        assert self.caspio is not None
        return self.caspio.base_url

    @property
    def home_url(self) -> str:
        assert self.caspio is not None
        return f"{self.caspio.base_url}/dp/"

    def start(self) -> Sandbox:
        """Bring everything up; raises SandboxError with a one-line reason."""
        say = self.options.on_line
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SandboxError(f"cannot create {self.data_dir}: {error.strerror}") from error
        # Before anything is read or deleted: --reset must never empty a running sandbox's
        # folder, nor may two sandboxes save over each other.
        self._lock_data_dir()
        try:
            if self.options.reset:
                self._empty_data_dir()
            state_path = self.data_dir / STATE_FILE
            try:
                self._state = json.loads(state_path.read_text()) if state_path.is_file() else {}
            except ValueError as error:
                raise SandboxError(f"cannot read {state_path} ({error}); start over with "
                                   "--reset") from error
        except BaseException:
            self._unlock_data_dir()
            raise
        fresh = not self._state
        ports = self._choose_ports()
        try:
            self._start_stripe(ports["stripe"])
            self._start_caspio(ports["caspio"])
            self._start_bridge(ports["bridge"], fresh)
        except BaseException:
            try:
                self._shut_down(save=False)
                if fresh:  # a half-made sandbox would be taken for a made one next time
                    for name in CREATED_FILES:
                        (self.data_dir / name).unlink(missing_ok=True)
            finally:
                self._unlock_data_dir()
            raise
        self._state["ports"] = {
            "bridge": int(self.bridge_url.rsplit(":", 1)[1]),
            "caspio": self.caspio.port if self.caspio else 0,
            "stripe": int(self.stripe_url.rsplit(":", 1)[1]),
        }
        self._write_state()
        # Every request was saved as it was answered; this also covers a resumed sandbox whose
        # clock or endpoint changed without one, so "Ready" always has a file behind it.
        self._save_stripe()
        say(f"{'Created a new' if fresh else 'Resumed the'} sandbox in {self.data_dir}")
        return self

    def _lock_data_dir(self) -> None:
        """Hold an exclusive ``flock`` on ``sandbox.lock`` until ``stop()`` or death.

        Raises SandboxInUse when another process (or another Sandbox here) holds it.
        """
        path = self.data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"another sandbox (pid {holder})" if holder.isdigit() else "another sandbox"
            raise SandboxInUse(f"{who} is using {self.data_dir}; stop it first, or choose "
                               "another --data-dir") from None
        except BaseException:
            os.close(fd)
            raise
        # The holder's pid, for the message above (informational: the lock is the flock).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    def _unlock_data_dir(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor drops the flock
            self._lock_fd = None

    def _empty_data_dir(self) -> None:
        """--reset: delete everything in the folder but the lock this process holds."""
        for entry in self.data_dir.iterdir():
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _choose_ports(self) -> dict[str, int]:
        remembered = self._state.get("ports", {})
        chosen: dict[str, int] = {}
        for name, default in DEFAULT_PORTS.items():
            given = self.options.ports.get(name)
            if given is not None:
                chosen[name] = given
            elif name in remembered:
                chosen[name] = int(remembered[name])
            else:
                # A default port taken by another program: any free one (remembered after).
                chosen[name] = default if _port_free(default) else 0
        return chosen

    def _start_stripe(self, port: int) -> None:
        emulator = StripeEmulator(webhook_retry_base=1.0, webhook_max_attempts=5)
        try:
            persistence.load(emulator, self.data_dir / STRIPE_STATE)
        except (ValueError, OSError) as error:
            raise SandboxError(f"cannot read the Stripe state ({error}); start over with "
                               "--reset") from error
        self.stripe = emulator
        server, thread = _serve(self._saving_app(emulator.app), port, "stripe")
        self._servers.append((server, thread))
        self.stripe_url = f"http://{HOST}:{server.server_port}"
        emulator.public_url = self.stripe_url
        emulator.start()

    def _saving_app(self, app: Any) -> Callable[..., Any]:
        """Stripe's WSGI app, saving the state after each request that may change it and
        before its answer leaves: whatever a caller was told survives a SIGKILL."""

        def saving_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            answer = app(environ, start_response)
            if environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS:
                try:
                    self._save_stripe()
                except OSError:  # a full disk must not turn into failed API calls
                    _log.exception("could not save the Stripe emulator's state")
            return answer

        return saving_app

    def _start_caspio(self, port: int) -> None:
        credentials = self._state.setdefault("caspio", {
            "client_id": "sandbox-client-id",
            "client_secret": secrets.token_urlsafe(24),
        })
        try:
            running, thread = start_emulator(
                HOST, port, db_path=str(self.data_dir / "caspio.sqlite"),
                client_id=credentials["client_id"], client_secret=credentials["client_secret"],
            )
        except OSError as error:
            raise SandboxError(f"cannot listen on {HOST}:{port} for the caspio emulator: "
                               f"{error.strerror}; choose another port (--caspio-port)") from error
        self.caspio = running
        self._caspio_thread = thread

    def _settings(self, bridge_url: str, webhook_secret: str) -> Any:
        from connector.settings import Settings

        assert self.caspio is not None
        environ = {
            "CASPIO_ACCOUNT_URL": self.caspio.base_url,
            "CASPIO_CLIENT_ID": self.caspio.client_id,
            "CASPIO_CLIENT_SECRET": self.caspio.client_secret,
            "CASPIO_WEBHOOK_SECRET": self._state.setdefault(
                "caspio_webhook_secret", secrets.token_urlsafe(24)),
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "STRIPE_API_BASE": self.stripe_url,
            "BRIDGE_PUBLIC_URL": bridge_url,
            "BRIDGE_DATABASE_URL": f"sqlite:///{self.data_dir / 'bridge.sqlite'}",
            "BRIDGE_SUCCESS_URL": f"{self.caspio.base_url}/dp/subscriptions",
            "BRIDGE_CANCEL_URL": f"{self.caspio.base_url}/dp/register",
            "BRIDGE_ALLOWED_ORIGINS": self.caspio.base_url,
            # Signs the Retry and portal links the bridge writes into Caspio.
            "BRIDGE_LINK_SECRET": self._state.setdefault(
                "link_secret", secrets.token_urlsafe(32)),
        }
        return Settings.from_env(environ=environ, env_file=None)

    def _start_bridge(self, port: int, fresh: bool) -> None:
        from connector.app import create_app
        from connector.services import build_services
        from connector.sync.runtime import start_background_worker

        assert self.caspio is not None and self.stripe is not None
        # The bridge's address is known only once it listens; the app is mounted after.
        holder: dict[str, Any] = {}

        def bridge_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            return holder["app"](environ, start_response)

        server, thread = _serve(bridge_app, port, "bridge")
        self._servers.append((server, thread))
        self.bridge_url = f"http://{HOST}:{server.server_port}"
        secret = self._webhook_secret()
        settings = self._settings(self.bridge_url, secret)
        self.services = build_services(settings)
        holder["app"] = create_app(settings, services=self.services)
        if fresh:
            self._prepare_caspio()
        self.worker = start_background_worker(self.services, idle_wait=0.2)
        self._wire_caspio_webhook()
        self.caspio.emulator.datapages = DataPages(
            self.caspio.emulator, app_parameters={"BRIDGE_PUBLIC_URL": self.bridge_url},
            panel=self)
        # Webhooks a killed sandbox still owed, now that the endpoint points at this bridge.
        persistence.redeliver(self.stripe)

    def _webhook_secret(self) -> str:
        """The Stripe endpoint for this bridge address: made once, re-pointed after a move."""
        import stripe

        from connector.commands.stripe_setup import WEBHOOK_PATH, create_endpoint

        client = stripe.StripeClient(API_KEY, base_addresses={"api": self.stripe_url},
                                     max_network_retries=0)
        target = self.bridge_url + WEBHOOK_PATH
        saved = self._state.get("stripe_webhook")
        if saved is not None:
            if saved["url"] != target:  # the bridge moved to another port
                client.v1.webhook_endpoints.update(saved["id"], {"url": target})
                saved["url"] = target
            return str(saved["secret"])
        endpoint = create_endpoint(client, target)
        self._state["stripe_webhook"] = {"id": endpoint.id, "url": target,
                                         "secret": endpoint.secret}
        return str(endpoint.secret)

    def _prepare_caspio(self) -> None:
        """caspio init, the demo plans, sync-plans: what a builder does once."""
        from connector.billing.catalog import PlanCatalog
        from connector.caspio_setup import init_caspio

        services = self.services
        init_caspio(services.caspio, services.mapping)
        plans_table = services.mapping.table("Billing_Plans")
        for row in demo_plans():
            services.caspio.insert(plans_table, services.mapping.to_caspio("Billing_Plans", row))
        catalog = PlanCatalog(services.caspio, services.stripe, services.mapping)
        report = catalog.sync(catalog.read_rows())
        self.options.on_line(f"Plans: {report.summary()}")

    def _wire_caspio_webhook(self) -> None:
        """New and changed subscription rows go to the bridge, as a builder's outgoing
        webhook would send them (used once the bridge serves POST /caspio/webhook)."""
        assert self.caspio is not None
        table = self.services.mapping.table("Billing_Subscriptions")
        self.caspio.emulator.configure_webhook(
            table, f"{self.bridge_url}/caspio/webhook", self._state["caspio_webhook_secret"],
            events=("table.recordInsert", "table.recordUpdate"))

    def _write_state(self) -> None:
        path = self.data_dir / STATE_FILE
        temporary = path.with_name(path.name + ".tmp")
        # Holds the sandbox's own emulator credentials: readable by this user only.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._state, handle, indent=2)
        os.replace(temporary, path)

    # ------------------------------------------------------------------ panel

    def now(self) -> int:
        assert self.stripe is not None
        return self.stripe.now()

    def advance(self, seconds: int) -> None:
        assert self.stripe is not None
        self.stripe.advance(seconds)
        self.settle()

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait until Caspio's and Stripe's webhooks are delivered and the worker has caught
        up with what they brought.

        Returns False when the deadline passed first (the pages then show what is there).
        """
        if self.stripe is None or self.worker is None or self.caspio is None:
            return False
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        while True:
            # Caspio's webhook is answered once the bridge has provisioned the row.
            if not self.caspio.emulator.webhooks.wait_idle(left()):
                return False
            if not self.stripe.wait_idle(left()):
                return False
            caught_up = self.worker.caught_up
            caught_up.clear()
            if not caught_up.wait(left()):
                return False
            # Handlers may have made calls that sent new webhooks meanwhile.
            if self.stripe.dispatcher.pending() == 0 and self.caspio.emulator.webhooks.wait_idle(0):
                # Caspio's file is always current; keep Stripe's as current, so that even
                # a killed sandbox resumes with both sides agreeing.
                self._save_stripe()
                return True

    def switch_card(self, customer_key: str, payment_method: str) -> None:
        """Attach a Stripe test payment method to the customer and make it the default of
        the customer and of its subscriptions (what the Stripe portal would do)."""
        from caspio_client import where as w

        services = self.services
        mapping = services.mapping
        row = services.caspio.get_one(
            mapping.table("Billing_Customers"),
            w.eq(mapping.field("Billing_Customers", "CustomerKey"), customer_key))
        fields = mapping.from_caspio("Billing_Customers", row or {})
        customer_id = fields.get("StripeCustomerID")
        if not customer_id:
            raise ValueError(f"customer {customer_key!r} has no Stripe customer yet")
        client = services.stripe.client
        card = client.v1.payment_methods.attach(payment_method, {"customer": customer_id})
        client.v1.customers.update(
            customer_id, {"invoice_settings": {"default_payment_method": card.id}})
        for subscription in client.v1.subscriptions.list(
                {"customer": customer_id, "limit": 100}).data:
            if subscription.default_payment_method:
                client.v1.subscriptions.update(subscription.id,
                                               {"default_payment_method": card.id})
        self.settle()

    def scenarios(self) -> list[tuple[str, str]]:
        return [(s.name, s.description) for s in self._scenario_book().all()]

    def run_scenario(self, name: str) -> str:
        summary: str = self._scenario_book().run(name, self)
        self.settle()
        return summary

    def _scenario_book(self) -> Any:
        if self._scenarios is None:
            from sandbox.launcher.scenarios import ScenarioBook

            self._scenarios = ScenarioBook.load()
        return self._scenarios

    def _save_stripe(self) -> None:
        assert self.stripe is not None
        with self._saving:
            persistence.save(self.stripe, self.data_dir / STRIPE_STATE)

    # ------------------------------------------------------------------ stop

    def stop(self, save: bool = True) -> None:
        """Finish deliveries, stop the worker and servers, save the Stripe state, release
        the data folder."""
        try:
            self._shut_down(save)
        finally:
            self._unlock_data_dir()

    def _shut_down(self, save: bool) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.stripe is not None:
            self.stripe.wait_idle(5.0)
        if self.worker is not None:
            self.worker.stop()
        for server, thread in reversed(self._servers):
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        if self.caspio is not None:
            self.caspio.server.shutdown()
            self.caspio.server.server_close()
            self.caspio.emulator.close()
        if self.stripe is not None:
            self.stripe.close()
            if save:
                self._save_stripe()
        if self.services is not None and self.services.store is not None:
            self.services.store.dispose()
