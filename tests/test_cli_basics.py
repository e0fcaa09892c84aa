"""What a person first meets: --version, paths given as plain strings, start-up errors."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from coordinator.cli import cli as coordinator_cli
from mpcnode.commands.node import cli as node_cli
from mpcnode.config import load_roster
from mpcnode.errors import InvalidInput
from mpcnode.tls import TlsFiles


def test_both_commands_print_their_version() -> None:
    runner = CliRunner()
    for command, prog in ((node_cli, "mpcnode"), (coordinator_cli, "mpc-coordinator")):
        result = runner.invoke(command, ["--version"], prog_name=prog)
        assert result.exit_code == 0
        assert result.output.strip() == f"{prog} {version('mpcnode')}"


def test_tls_files_take_strings_as_well_as_paths() -> None:
    files = TlsFiles("alice-hr.crt", "alice-hr.key", "ca.crt")  # type: ignore[arg-type]
    assert files == TlsFiles(Path("alice-hr.crt"), Path("alice-hr.key"), Path("ca.crt"))
    assert isinstance(files.cert, Path)


def test_a_missing_roster_names_the_key_that_points_at_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^roster_file = .*roster\.toml: no such file; set"):
        load_roster(tmp_path / "roster.toml")
