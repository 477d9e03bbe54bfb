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


def test_ci_installs_chromium_on_a_clean_debian_machine(tmp_path: Path) -> None:
    """.ci/chromium with no chromium on PATH: apt lists first (a clean image has none),
    then a non-interactive install; nothing at all when chromium is already there."""
    import os
    import subprocess

    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "apt.log"
    (fake / "apt-get").write_text(
        f'#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> {log}\n'
        f'case "$*" in *install*) printf "#!/bin/sh\\n" > {fake}/chromium; '
        f'/bin/chmod +x {fake}/chromium;; esac\n')
    (fake / "apt-get").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "HOPFLOW_CHROMIUM"}
    env["PATH"] = str(fake)  # no chromium; the script needs only bash builtins and apt-get
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "chromium")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update -q",
        "noninteractive install -y -q --no-install-recommends chromium"]
    log.unlink()
    again = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "chromium")], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and not log.exists()  # installed: apt is not called
    assert "bash .ci/chromium" in (ROOT / ".ci" / "run").read_text()
