"""What a person first types: --version on both commands, and paths given as plain strings."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from click.testing import CliRunner

from coordinator.cli import cli as coordinator_cli
from mpcnode.commands.node import cli as node_cli
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
