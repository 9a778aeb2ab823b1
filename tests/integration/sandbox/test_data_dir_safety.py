"""The sandbox's data folder survives what people do to it: a second sandbox (with or
without --reset) on a folder in use refuses instead of deleting or overwriting the running
one's state; a SIGKILLed sandbox resumes with Stripe's side as its callers last saw it (and
leaves no stale lock); closing the terminal (SIGHUP) stops it cleanly."""

from __future__ import annotations

import signal
import subprocess

import requests

from tests.integration.sandbox.test_sandbox_command import CLI, URL_LINE, Running

FREE_PORTS = ("--bridge-port", "0", "--caspio-port", "0", "--stripe-port", "0")


def register(url: str, key: str) -> str:
    """Submit the registration page; returns the Checkout page the sign-up link leads to."""
    submitted = requests.post(url + "register", data={
        "CustomerKey": key, "Name": key, "Email": f"{key}@example.com",
        "PlanKey": "silver-weekly"}, allow_redirects=False, timeout=60)
    assert submitted.status_code == 303, submitted.text[:300]
    signup = requests.get(submitted.headers["Location"], allow_redirects=False, timeout=60)
    assert signup.status_code == 303, signup.text[:300]
    return signup.headers["Location"]


def test_a_second_sandbox_on_a_folder_in_use_refuses_and_deletes_nothing(tmp_path):
    data = tmp_path / "data"
    first = Running("--data-dir", str(data), *FREE_PORTS)
    try:
        url = first.wait_for(URL_LINE).group(1)
        checkout = register(url, "first-1")
        kept = ("sandbox.json", "stripe.state", "caspio.sqlite")
        before = {path.name: path.read_bytes() for path in data.iterdir() if path.name in kept}
        assert "sandbox.json" in before and "caspio.sqlite" in before
        for extra in (["--reset"], []):
            second = subprocess.run([*CLI, "sandbox", "--data-dir", str(data), *extra,
                                     *FREE_PORTS], capture_output=True, text=True, timeout=60)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(
                f"caspio-stripe: another sandbox (pid {first.process.pid}) is using"), lines
            assert "Ready" not in second.stdout
        after = {name: (data / name).read_bytes() for name in before}
        assert after == before
        assert requests.get(checkout, timeout=60).status_code == 200
        assert "first-1" in requests.get(url + "subscriptions", timeout=60).text
    finally:
        assert first.interrupt() == 0, "".join(first.output)
    # Once stopped, the folder is free again.
    again = Running("--data-dir", str(data))
    try:
        again.wait_for(URL_LINE)
    finally:
        assert again.interrupt() == 0, "".join(again.output)


def test_a_killed_sandbox_resumes_with_stripe_as_last_answered(tmp_path):
    data = tmp_path / "data"
    first = Running("--data-dir", str(data), *FREE_PORTS)
    try:
        url = first.wait_for(URL_LINE).group(1)
        checkout = register(url, "killed-1")
        assert requests.get(checkout, timeout=60).status_code == 200
    finally:
        first.process.kill()  # SIGKILL: no handler runs, nothing is saved on the way out
        first.process.wait(timeout=60)
    second = Running("--data-dir", str(data))  # the remembered ports, no stale lock
    try:
        assert second.wait_for(URL_LINE).group(1) == url
        assert any("Resumed the sandbox" in line for line in second.output)
        # The Checkout session made before the kill is still there, and sign-up works.
        assert requests.get(checkout, timeout=60).status_code == 200
        assert requests.get(register(url, "killed-2"), timeout=60).status_code == 200
    finally:
        assert second.interrupt() == 0, "".join(second.output)


def test_closing_the_terminal_stops_it_like_ctrl_c(tmp_path):
    data = tmp_path / "data"
    run = Running("--data-dir", str(data), *FREE_PORTS)
    run.wait_for(URL_LINE)
    run.process.send_signal(signal.SIGHUP)
    code = run.process.wait(timeout=60)
    while (line := run.lines.get(timeout=5)) is not None:
        run.output.append(line)
    assert code == 0, "".join(run.output)
    assert "Stopped. State kept in" in "".join(run.output)
