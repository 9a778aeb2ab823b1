"""The spec-based tests skip without ../shared/reference, except in CI where they fail."""

from __future__ import annotations

import pytest

from tests import reference as conftest


def test_missing_reference_skips_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "REFERENCE_DIR", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is absent"):
        conftest.reference_file("caspio-openapi-v3.json")


def test_missing_reference_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "REFERENCE_DIR", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="is absent"):
        conftest.reference_file("caspio-openapi-v3.json")


def test_present_reference_is_found(monkeypatch, tmp_path):
    (tmp_path / "caspio-openapi-v3.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(conftest, "REFERENCE_DIR", tmp_path)
    assert conftest.reference_file("caspio-openapi-v3.json").read_text() == "{}"
