"""The app builder's guide: generated reference pages match the code, and the site builds
with warnings as errors (mkdocs --strict)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from connector.settings import VARIABLES
from connector.settings_reference import undocumented

ROOT = Path(__file__).resolve().parents[3]


def _generator() -> dict[str, object]:
    return runpy.run_path(str(ROOT / "docs" / "generate.py"), run_name="docs_generate")


def test_every_setting_the_code_reads_is_described() -> None:
    assert undocumented(VARIABLES) == []


@pytest.mark.parametrize("relative", ["reference/settings.md", "reference/tables.md",
                                      "reference/commands.md"])
def test_generated_reference_matches_the_code(relative: str) -> None:
    pages = _generator()["pages"]()  # type: ignore[operator]
    on_disk = (ROOT / "docs" / relative).read_text(encoding="utf-8")
    assert on_disk == pages[relative], (
        f"docs/{relative} is out of date: run `python docs/generate.py`"
    )


def test_settings_reference_names_every_variable() -> None:
    page = (ROOT / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    for name in VARIABLES:
        assert f"`{name}`" in page


def test_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "security" / "index.html").is_file()


def test_readme_links_the_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/setup-caspio.md", "docs/setup-stripe.md", "docs/production.md",
                 "docs/operate.md", "docs/security.md"):
        assert page in readme, page
