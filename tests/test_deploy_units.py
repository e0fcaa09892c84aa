"""The systemd units in deploy/systemd/ are valid and point at commands that exist.

`systemd-analyze verify` parses each unit as systemd would and checks its executables; the
units name /opt/mpcnode/venv, so the test verifies copies pointing at this checkout's venv.
It also checks the hardening a reviewer expects is there. Skipped where systemd is not
installed; `.ci/run` runs it where it is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
HARDENING = (
    "User=mpcnode",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ReadWritePaths=/var/lib/mpcnode/",
    "Restart=on-failure",
    "CapabilityBoundingSet=\n",
    "UMask=0077",
)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_is_hardened(unit: Path) -> None:
    text = unit.read_text()
    for line in HARDENING:
        assert line in text, f"{unit.name} lacks {line.strip()}"
    assert "serve --config" in text and "check --config" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    copies = []
    for unit in UNITS:
        name = unit.name.replace("@.", "@alice.")
        copy = tmp_path / name
        copy.write_text(unit.read_text().replace("/opt/mpcnode/venv", str(venv)))
        copies.append(str(copy))
    done = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, check=False,
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    problems = [line for line in (done.stdout + done.stderr).splitlines() if ".service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
