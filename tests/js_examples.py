"""The JavaScript examples (examples/node, examples/web) as the tests run them: their npm
packages installed from the lock file, or the test skipped with the reason when node or npm
is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def installed(package: str) -> Path:
    """examples/PACKAGE with its node_modules as its package-lock.json pins them: installed by
    `npm ci --ignore-scripts` (onnxruntime-node's install script downloads GPU binaries from
    outside the registry; its CPU binaries are in the package) unless npm's record of the last
    install is newer than the lock file."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"`{tool}` is not on PATH: the JavaScript examples need Node.js 20+ and npm"
            )
    folder = EXAMPLES / package
    lock = folder / "package-lock.json"
    record = folder / "node_modules" / ".package-lock.json"
    if not record.is_file() or record.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise AssertionError(f"npm ci in {folder} failed:\n{done.stdout}\n{done.stderr}")
    return folder
