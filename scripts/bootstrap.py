#!/usr/bin/env python3
"""Create ./.venv and install Communis into it, on a machine with nothing but Python ≥ 3.11.

Debian and Ubuntu ship Python without ``ensurepip`` unless python3-venv is installed; in that
case the virtual environment is created without pip and pip is fetched from the package index
(the only network this needs), so "make run" works on a fresh machine.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PIP_INDEX = "https://pypi.org/pypi/pip/json"


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_pip() -> None:
    """Install pip into the venv from a downloaded wheel when ensurepip was unavailable."""
    check = [venv_python(), "-m", "pip", "--version"]
    if subprocess.run(check, capture_output=True).returncode == 0:  # noqa: S603
        return
    with urllib.request.urlopen(PIP_INDEX, timeout=60) as response:
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["filename"].endswith(".whl"))
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as response:  # noqa: S310
            target.write_bytes(response.read())
        # A pip wheel can run itself: python pip.whl/pip install pip.whl
        subprocess.run(  # noqa: S603
            [venv_python(), f"{target}/pip", "install", "--quiet", str(target)], check=True
        )


def main() -> None:
    if not venv_python().exists():
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (subprocess.CalledProcessError, OSError):
            venv.EnvBuilder(with_pip=False, clear=True).create(VENV)
    ensure_pip()


if __name__ == "__main__":
    main()
