"""The command lines the files in deploy/ run, read from those files (not copied into tests),
and mapped onto this checkout so they can run outside a container or systemd."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Where the Dockerfile and the systemd units put the gunicorn config; here it is the checkout's.
CONFIG_PATHS = ("/etc/caspio-stripe/gunicorn.conf.py", "/opt/caspio-stripe/gunicorn.conf.py",
                "deploy/gunicorn.conf.py")


def dockerfile_cmd() -> list[str]:
    """The Dockerfile's CMD (exec form, one line)."""
    lines = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
             if line.startswith("CMD ")]
    assert len(lines) == 1, "the Dockerfile has one CMD"
    command = json.loads(lines[0][len("CMD "):])
    assert isinstance(command, list)
    return [str(part) for part in command]


def compose() -> dict[str, object]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def procfile() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = shlex.split(command)
    return entries


def unit_exec_start(name: str) -> list[str]:
    """ExecStart of a systemd unit in deploy/systemd/, split as systemd does (quotes)."""
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line[len("ExecStart="):])
    raise AssertionError(f"{name} has no ExecStart")


def local(command: list[str], *, port: int | None = None) -> list[str]:
    """`command` with its program taken from this interpreter's folder (gunicorn,
    caspio-stripe), its config path from this checkout and, given `port`, bound to
    127.0.0.1:`port` instead of what the file says."""
    program = Path(command[0]).name
    found = Path(sys.executable).with_name(program)
    resolved = str(found) if found.exists() else shutil.which(program)
    assert resolved, f"{program} is not installed"
    out = [resolved]
    rest = command[1:]
    index = 0
    while index < len(rest):
        part = rest[index]
        if part in CONFIG_PATHS:
            out.append(str(DEPLOY / "gunicorn.conf.py"))
        elif part == "--bind" and port is not None:
            out += ["--bind", f"127.0.0.1:{port}"]
            index += 1
        else:
            out.append(part)
        index += 1
    return out
