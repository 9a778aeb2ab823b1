"""`caspio-stripe sandbox`: the whole product on this machine, with no accounts.

The launcher lives in `sandbox.launcher` and is imported only when the command runs: the
bridge itself never imports the emulators (docs/contracts.md).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import click
import requests

from connector.commands.common import fail

DEFAULT_DATA_DIR = "sandbox-data"
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder holding all the sandbox's state; the same folder resumes it.",
)


@click.group("sandbox", invoke_without_command=True)
@data_dir_option
@click.option("--reset", is_flag=True, help="Delete the folder's state and start over.")
@click.option(
    "--bridge-port",
    type=int,
    default=None,
    help="Bridge port (default: the last run's, else 8001; 0 picks a free one).",
)
@click.option(
    "--caspio-port",
    type=int,
    default=None,
    help="Caspio emulator and DataPages port (default: the last run's, else 8101).",
)
@click.option(
    "--stripe-port",
    type=int,
    default=None,
    help="Stripe emulator port (default: the last run's, else 8201).",
)
@click.pass_context
def group(
    ctx: click.Context,
    data_dir: Path,
    reset: bool,
    bridge_port: int | None,
    caspio_port: int | None,
    stripe_port: int | None,
) -> None:
    """Run Caspio and Stripe emulators, the bridge and its worker, with demo plans and
    imitation DataPages; print the one URL to open. Ctrl-C stops it, keeping the state."""
    if ctx.invoked_subcommand is not None:
        return
    from sandbox.launcher.stack import Sandbox, SandboxError, SandboxInUse, SandboxOptions

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # The store's migrations are news to an operator, not to someone trying the product.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    started = time.monotonic()
    options = SandboxOptions(
        data_dir=data_dir,
        reset=reset,
        ports={"bridge": bridge_port, "caspio": caspio_port, "stripe": stripe_port},
        on_line=click.echo,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Closing the terminal (SIGHUP) stops it like Ctrl-C or `kill`: deliveries finish, the
    # state is saved and the data folder released.
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in stopping}
    try:
        try:
            running = Sandbox(options).start()
        except SandboxInUse as error:
            fail(str(error), exit_code=2)
        except SandboxError as error:
            fail(str(error))
        try:
            click.echo(
                f"Bridge {running.bridge_url} · Caspio {running.caspio_url} · "
                f"Stripe {running.stripe_url}"
            )
            click.echo(f"Ready in {time.monotonic() - started:.1f} s. Open {running.home_url}")
            click.echo("Ctrl-C stops the sandbox; the same command resumes it.", err=True)
            stop.wait()
        finally:
            click.echo("Stopping…", err=True)
            running.stop()
        click.echo(f"Stopped. State kept in {data_dir}.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@group.command("trigger")
@click.argument("scenario", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@data_dir_option
def trigger(scenario: str | None, list_only: bool, data_dir: Path) -> None:
    """Make a named situation happen in the running sandbox (see --list)."""
    from sandbox.launcher.scenarios import ScenarioBook, ScenarioError

    try:
        book = ScenarioBook.load()
    except ScenarioError as error:
        fail(str(error))
    if list_only or scenario is None:
        for item in book.all():
            click.echo(f"{item.name:16} {item.description}")
        if scenario is None and not list_only:
            raise SystemExit(2)
        return
    if scenario not in book.scenarios:
        fail(
            f"no scenario {scenario!r}; `caspio-stripe sandbox trigger --list` shows them",
            exit_code=2,
        )
    state_path = data_dir / "sandbox.json"
    try:
        port = json.loads(state_path.read_text())["ports"]["caspio"]
    except (OSError, ValueError, KeyError):
        fail(f"no sandbox in {data_dir}: start one with `caspio-stripe sandbox`")
    url = f"http://127.0.0.1:{port}/dp/scenarios/{scenario}"
    try:
        answer = requests.post(url, headers={"Accept": "application/json"}, timeout=120)
    except requests.ConnectionError:
        fail(f"the sandbox in {data_dir} is not running: start it with `caspio-stripe sandbox`")
    if answer.status_code != 200:
        fail(f"scenario {scenario} failed: HTTP {answer.status_code}: {answer.text[:300]}")
    click.echo(answer.json()["summary"])
