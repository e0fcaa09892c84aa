"""The import graph follows the call graph (DESIGN 7), and the sample configs are valid."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from coordinator.config import load_coordinator_config
from mpcnode.config import load_node_config, load_roster
from mpcnode.errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent
PURE_ALLOWED = {
    "numpy",
    "hashlib",
    "os",
    "json",
    "math",
    "re",
    "enum",
    "dataclasses",
    "fractions",
    "typing",
    "collections",
    "__future__",
    "secrets",
    "struct",
    "cryptography",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "api/v1" not in str(p))


@pytest.mark.parametrize("path", _modules("mpcnode"), ids=lambda p: str(p.relative_to(ROOT)))
def test_mpcnode_never_imports_coordinator(path: Path) -> None:
    assert not any(m.split(".")[0] == "coordinator" for m in _imports(path))


@pytest.mark.parametrize("path", _modules("mpcnode/core"), ids=lambda p: p.name)
def test_pure_core_imports_no_edge(path: Path) -> None:
    for module in _imports(path):
        top = module.split(".")[0]
        inside = module.startswith(("mpcnode.core", "mpcnode.errors"))
        assert inside or top in PURE_ALLOWED, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", _modules("coordinator"), ids=lambda p: p.name)
def test_coordinator_never_imports_node_share_handling(path: Path) -> None:
    assert not any(m.startswith("mpcnode.node") for m in _imports(path))


def test_sample_configs_are_valid() -> None:
    node = load_node_config(ROOT / "examples" / "node.toml")
    assert node.party_id == "alice" and node.policy.input_reuse == "once"
    coord = load_coordinator_config(ROOT / "examples" / "coordinator.toml")
    assert coord.rounds.max_attempts == 3
    assert load_roster(ROOT / "examples" / "roster.toml").ids == ("alice", "bob", "carlos", "david")


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    sample = (ROOT / "examples" / "node.toml").read_text()
    text = sample.replace("[policy]", "[policy]\nmin_partys = 4")
    (tmp_path / "node.toml").write_text(text)
    with pytest.raises(InvalidInput, match=r"policy\.min_partys"):
        load_node_config(tmp_path / "node.toml")
