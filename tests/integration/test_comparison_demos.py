"""The comparison demos, run as a user runs them (`mpcnode demo ...`), on real daemons.

Each asserts the published answer and that nothing else came out: the auction's losing bids
appear neither in the output nor in any daemon's log, the referendum prints YES and no
count, the breach total is withheld.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _demo(name: str, keep: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mpcnode", "demo", name, "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _rows(output: str) -> list[tuple[str, str]]:
    """The result rows of every table: (name, value)."""
    return re.findall(r"^  (\w+) {2,}(.+)$", output, flags=re.MULTILINE)


def _logs(keep: Path) -> str:
    """Every daemon's log, without its timestamps (",120" milliseconds is not a bid)."""
    text = "\n".join(p.read_text(errors="replace") for p in (keep / "logs").glob("*.log"))
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "<time>", text)


def test_auction_publishes_winner_and_price_and_no_losing_bid(tmp_path: Path) -> None:
    output = _demo("auction", tmp_path)
    assert _rows(output) == [
        ("winner", "bob"),
        ("price", "150"),
        ("winner", "bob"),
        ("price", "135"),
    ]
    assert "the winner and the second-highest bid (not the winner's own bid)" in output
    assert "honest majority, passive, t = 1 of 4 parties" in output
    for text in (output, _logs(tmp_path)):
        for losing in ("120", "110"):
            assert not re.search(rf"(?<![\w.]){losing}(?![\w.])", text), losing


def test_referendum_publishes_yes_and_not_the_count(tmp_path: Path) -> None:
    output = _demo("referendum", tmp_path)
    assert _rows(output) == [("answer", "YES")]
    assert "not the sum" in output
    assert not re.search(r"(?<![\w.])4(?![\w.])", output.split("reveals:")[1])


def test_breach_total_is_suppressed_for_dominance(tmp_path: Path) -> None:
    output = _demo("breach", tmp_path)
    assert _rows(output) == [("sum", "suppressed (dominance)")]
    assert "9567000" not in output.replace(",", "")


def test_wagegap_prints_eighteen_cohorts_and_the_gap_per_level(tmp_path: Path) -> None:
    """The demo as a user runs it; the table's numbers are checked against the cleartext
    union of the payrolls in tests/integration/test_records_federation.py."""
    output = _demo("wagegap", tmp_path)
    cohorts = re.findall(r"^  (gender=\w,level=\d) ", output, flags=re.MULTILINE)
    assert len(cohorts) == 36  # the exact table and the record-level DP one
    assert "suppressed" in output  # the executive level's tiny cohorts
    gaps = re.findall(r"^    level=(\d)  ratio +([\d.]+)  gap +([\d.]+)%$", output, re.MULTILINE)
    assert [g[0] for g in gaps[:5]] == ["1", "2", "3", "4", "5"]
    assert all(4 < float(g[2]) < 14 for g in gaps[:5])
    for party in ("alice", "bob", "carlos", "david"):
        payroll = (tmp_path / f"{party}-payroll.csv").read_text().splitlines()
        assert payroll[0] == "employee,gender,level,years,salary,status"
        # No employee's salary appears in any daemon's log.
        salaries = [line.split(",")[4] for line in payroll[1:50]]
        logs = _logs(tmp_path)
        assert not any(s in logs for s in salaries)
