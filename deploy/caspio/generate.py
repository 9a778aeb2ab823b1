"""Regenerate the table definitions in this folder from mappings/default.yaml.

    python deploy/caspio/generate.py

tests/unit/mappings/test_deploy_files.py fails when these files are out of date.
"""

from __future__ import annotations

from pathlib import Path

from connector.caspio_setup import deploy_files
from mappings import load_mapping

HERE = Path(__file__).resolve().parent


def main() -> None:
    for name, content in deploy_files(load_mapping()).items():
        (HERE / name).write_text(content, encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
