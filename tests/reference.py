"""The team's reference files in ../shared/reference, found from the project root.

Tests that need one skip with a reason when the folder is absent (a user's machine), and
fail instead when CI=true, where the reference must be present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = PROJECT_ROOT.parent / "shared" / "reference"


def reference_file(name: str) -> Path:
    path = REFERENCE_DIR / name
    if not path.is_file():
        reason = f"reference file {path} is absent (../shared/reference is not beside the project)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def stripe_fixtures() -> dict[str, Any]:
    """Stripe's canonical example object of every resource type, by type."""
    data = json.loads(reference_file("stripe-fixtures3.json").read_text(encoding="utf-8"))
    return data["resources"]  # type: ignore[no-any-return]
