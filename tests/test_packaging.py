"""A real install (`pip install .`, as the Docker image does) carries every package."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_layout_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = set(find_packages(str(ROOT), include=include))
    on_disk = {str(p.parent.relative_to(ROOT)).replace("/", ".")
               for p in ROOT.glob("*/**/__init__.py")
               if p.parts[len(ROOT.parts)] not in ("tests", "build", ".venv")}
    assert on_disk - installed == set()
    assert {"streams.control", "schemas", "api"} <= installed


def test_every_console_file_is_package_data() -> None:
    """The console's files ship in a non-editable install (the Docker image) only if a
    package-data glob names them: a new subfolder or file type must be added there."""
    from fnmatch import fnmatch

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["api"]
    files = [str(p.relative_to(ROOT / "api")) for p in (ROOT / "api" / "console").rglob("*")
             if p.is_file()]
    assert files and [f for f in files if not any(fnmatch(f, g) for g in globs)] == []
