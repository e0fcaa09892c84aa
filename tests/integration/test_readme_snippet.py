"""The README's Python snippet runs as written, against a real federation.

Only the addresses and the working folder change: the snippet's certificate files are
copied under the names it uses, and its host names become the daemons' loopback ports.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from integration_helpers import running_federation, scalar, submit_all

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> str:
    section = README.read_text().split("## Partner integration", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's partner section has a Python snippet"
    return match.group(1)


def test_the_partner_snippet_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_federation(tmp_path / "fed") as fed:
        others = {"bob": 2514, "carlos": 2982, "david": 3390}
        submit_all(fed, "raises", others, scalar("raises"))
        work = tmp_path / "work"
        work.mkdir()
        for src, name in (
            (fed.root / "alice" / "alice-hr.crt", "alice-hr.crt"),
            (fed.root / "alice" / "alice-hr.key", "alice-hr.key"),
            (fed.root / "analyst" / "analyst.crt", "ana.crt"),
            (fed.root / "analyst" / "analyst.key", "ana.key"),
            (fed.root / "ca" / "ca.crt", "ca.crt"),
        ):
            shutil.copy(src, work / name)
        code = _snippet()
        code = code.replace("node.alice.example.org:7001", f"127.0.0.1:{fed.ports['alice']}")
        code = code.replace("coord.example.org:7000", f"127.0.0.1:{fed.ports['coordinator']}")
        monkeypatch.chdir(work)
        exec(compile(code, "README.md", "exec"), {})  # the README's own code, as a user runs it
    printed = capsys.readouterr().out
    assert "3171.5 ('alice', 'bob', 'carlos', 'david')" in printed
