"""`caspio-stripe sandbox` as a person runs it: it comes up and prints one URL, Ctrl-C
stops it cleanly, and the same command resumes with the same data and addresses."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading

import requests

CLI = [sys.executable, "-c", "from connector.cli import main; main()"]
URL_LINE = re.compile(r"Open (http://127\.0\.0\.1:\d+/dp/)")


class Running:
    """The command in a child process; its output lines arrive on a queue."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CLI, "sandbox", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError("exited before printing it:\n" + "".join(self.output))
            self.output.append(line)
            match = pattern.search(line)
            if match:
                return match

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        while (line := self.lines.get(timeout=5)) is not None:
            self.output.append(line)
        return code


def test_starts_prints_one_url_stops_on_ctrl_c_and_resumes(tmp_path):
    data = tmp_path / "data"
    first = Running("--data-dir", str(data), "--bridge-port", "0", "--caspio-port", "0",
                    "--stripe-port", "0")
    try:
        url = first.wait_for(URL_LINE).group(1)
        home = requests.get(url, timeout=60)
        assert home.status_code == 200 and "caspio-stripe sandbox" in home.text
        form = requests.get(url + "register", timeout=60).text
        assert 'value="gold-monthly"' in form and 'value="platinum-yearly"' in form
        submitted = requests.post(url + "register", data={
            "CustomerKey": "kept-1", "Name": "Kept", "Email": "kept@example.com",
            "PlanKey": "silver-weekly"}, allow_redirects=False, timeout=60)
        assert submitted.status_code == 303
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/signup/[0-9a-f-]{36}",
                            submitted.headers["Location"])
        clock_before = requests.post(url + "clock", data={"step": "week"}, timeout=60)
        assert clock_before.status_code == 200
        moved_to = re.search(r'id="clock-now">([^<]+)<', clock_before.text).group(1)
    finally:
        code = first.interrupt()
    assert code == 0, "".join(first.output)
    assert "Stopped. State kept in" in "".join(first.output)
    assert "Traceback" not in "".join(first.output)

    second = Running("--data-dir", str(data))
    try:
        resumed_url = second.wait_for(URL_LINE).group(1)
        assert resumed_url == url  # the ports of the first run are remembered
        assert any("Resumed the sandbox" in line for line in second.output)
        page = requests.get(url + "subscriptions", timeout=60).text
        assert "kept-1" in page
        assert re.search(r'id="clock-now">([^<]+)<', page).group(1) == moved_to
    finally:
        assert second.interrupt() == 0, "".join(second.output)


def test_reset_starts_over(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sandbox.json").write_text("{}")
    (data / "stripe.state").write_bytes(b"not a state")
    run = Running("--data-dir", str(data), "--reset", "--bridge-port", "0",
                  "--caspio-port", "0", "--stripe-port", "0")
    try:
        run.wait_for(URL_LINE)
        assert any("Created a new sandbox" in line for line in run.output)
    finally:
        assert run.interrupt() == 0


def test_a_damaged_stripe_state_is_one_line_naming_reset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "stripe.state").write_bytes(b"not a state")
    run = subprocess.run(
        [*CLI, "sandbox", "--data-dir", str(data),
         "--bridge-port", "0", "--caspio-port", "0", "--stripe-port", "0"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("caspio-stripe: cannot read the "
                                                          "Stripe state")
    assert "--reset" in run.stderr
