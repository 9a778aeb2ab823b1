"""Real headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium.

Without the browser the tests skip with the reason, except in CI (CI=true), where `.ci/run`
installs it and they must run. Screenshots of each step go to BRIDGE_E2E_ARTIFACTS (default:
a folder under pytest's temporary directory), printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

_artifacts: list[Path] = []


def _require(found: str | None, what: str) -> str:
    if found:
        return found
    reason = f"{what} not installed (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("BRIDGE_E2E_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("e2e-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _artifacts.append(folder)
    return folder


@pytest.fixture
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    binary = _require(shutil.which("chromium") or shutil.which("chromium-browser"), "chromium")
    driver_path = _require(shutil.which("chromedriver"), "chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1440,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for folder in _artifacts:
        terminalreporter.write_line(f"e2e screenshots: {folder}")
