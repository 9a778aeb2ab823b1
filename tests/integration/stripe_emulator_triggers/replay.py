"""Replaying a Stripe CLI trigger fixture over plain HTTP, as ``stripe trigger`` does.

A fixture file (see ``../shared/reference/stripe-cli-triggers/README.md``) is a list of
steps; each is one HTTP call whose ``params`` are form-encoded the way Stripe's clients
encode them (``items[0][price]=…``, ``metadata[k]=…``) and whose strings may name a field of
an earlier step's answer as ``${step:path.0.id}``. Like the CLI, no ``Stripe-Version``
header is sent: the account's default version answers.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass
class StepResult:
    name: str
    method: str
    path: str
    status: int
    body: Any
    expected_error_type: str | None


@dataclass
class Replay:
    file: Path
    steps: list[StepResult] = field(default_factory=list)

    def failures(self) -> list[str]:
        """One line per step that did not answer as the fixture expects."""
        lines = []
        for step in self.steps:
            error = step.body.get("error") if isinstance(step.body, dict) else None
            if step.expected_error_type is None and step.status >= 400:
                lines.append(f"{step.name} {step.method} {step.path} → {step.status} {error}")
            elif step.expected_error_type is not None and (
                step.status < 400 or (error or {}).get("type") != step.expected_error_type
            ):
                lines.append(
                    f"{step.name}: expected a {step.expected_error_type}, got {step.status} "
                    f"{step.body if step.status >= 400 else ''}"
                )
        return lines


def load(path: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["fixtures"]
    return steps


def _lookup(results: dict[str, Any], reference: str) -> str:
    if reference == "generate-uuid":
        return str(uuid.uuid4())
    if reference == "time-now-RFC3339":
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    name, _, path = reference.partition(":")
    node: Any = results[name]
    for part in path.split(".") if path else []:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return str(node)


def substitute(value: str, results: dict[str, Any]) -> str:
    return _VARIABLE.sub(lambda m: _lookup(results, m.group(1)), value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode(params: Any, results: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding of nested params; ``${…}`` replaced in keys and values."""
    pairs: list[tuple[str, str]] = []
    if isinstance(params, dict):
        for key, value in params.items():
            name = substitute(str(key), results)
            pairs += encode(value, results, f"{prefix}[{name}]" if prefix else name)
    elif isinstance(params, list):
        for index, value in enumerate(params):
            pairs += encode(value, results, f"{prefix}[{index}]")
    else:
        pairs.append((prefix, substitute(_scalar(params), results)))
    return pairs


def replay(path: Path, base_url: str, api_key: str) -> Replay:
    """Run every step of one fixture file; stops at the first unexpected answer."""
    result = Replay(path)
    answers: dict[str, Any] = {}
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    for step in load(path):
        method = str(step.get("method", "post")).upper()
        url_path = substitute(step["path"], answers)
        pairs = encode(step.get("params") or {}, answers)
        if method == "POST":
            response = session.post(base_url + url_path, data=pairs, timeout=30)
        else:
            response = session.request(method, base_url + url_path, params=pairs, timeout=30)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        expected = step.get("expected_error_type")
        result.steps.append(
            StepResult(step["name"], method, url_path, response.status_code, body, expected)
        )
        answers[step["name"]] = body
        if result.failures():
            break
    return result
