"""The import graph follows the call graph (DESIGN 7), and the sample configs are valid."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

from coordinator.config import load_coordinator_config
from mpcnode.config import load_node_config, load_roster
from mpcnode.core import vector_samplers
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
    "base64",
    "binascii",
    "cryptography",
    "randomgen",  # only AESCounter, only in core/vector_samplers.py (checked below)
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


@pytest.mark.parametrize("path", _modules("mpcnode/protocols"), ids=lambda p: p.name)
def test_protocols_are_pure_and_sit_on_the_core(path: Path) -> None:
    """The multi-step programs are plain objects over the core: no edge, no node, no I/O."""
    for module in _imports(path):
        top = module.split(".")[0]
        inside = module.startswith(("mpcnode.core", "mpcnode.errors", "mpcnode.protocols"))
        assert inside or top in PURE_ALLOWED, f"{path.name} imports {module}"


def test_the_core_never_imports_the_protocols() -> None:
    for path in _modules("mpcnode/core"):
        assert not any(m.startswith("mpcnode.protocols") for m in _imports(path)), path.name


@pytest.mark.parametrize("path", _modules("coordinator"), ids=lambda p: p.name)
def test_coordinator_never_imports_node_share_handling(path: Path) -> None:
    assert not any(m.startswith("mpcnode.node") for m in _imports(path))


def test_sample_configs_are_valid() -> None:
    node = load_node_config(ROOT / "examples" / "node.toml")
    assert node.party_id == "alice" and node.datasets["raises"].period == "2026"
    assert node.datasets["lunch"].declaration("lunch").bins == ("pizza", "sushi", "tacos")
    for name, table in node.datasets.items():
        table.declaration(name).check()  # every sample declaration holds together
    coord = load_coordinator_config(ROOT / "examples" / "coordinator.toml")
    assert coord.rounds.max_attempts == 3
    assert load_roster(ROOT / "examples" / "roster.toml").ids == ("alice", "bob", "carlos", "david")


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    sample = (ROOT / "examples" / "node.toml").read_text()
    text = sample.replace("[policy]", "[policy]\nmin_partys = 4")
    (tmp_path / "node.toml").write_text(text)
    with pytest.raises(InvalidInput, match=r"policy\.min_partys"):
        load_node_config(tmp_path / "node.toml")


# --- production code can construct only secure randomness --------------------------------
# Complements the `np.random` scan in test_sharing.py: the exact samplers draw from a
# `RandomSource`, whose one production implementation is the OS CSPRNG, and the vectorized
# path's AES-CTR generator is built in one place, keyed only from os.urandom.

VECTOR_MODULE = ROOT / "mpcnode" / "core" / "vector_samplers.py"


def _production() -> list[Path]:
    return _modules("mpcnode") + _modules("coordinator")


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    def called(node: ast.Call) -> str:
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and called(n) == name]


def test_the_only_production_random_source_is_the_system_one() -> None:
    sources = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in _production()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and not any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)
        and any(isinstance(f, ast.FunctionDef) and f.name == "uint64" for f in node.body)
    ]
    assert sources == ["mpcnode/core/randomness.py:SystemRandomSource"]


def test_randomgen_is_used_only_for_aes_counter_in_one_module() -> None:
    users = [path for path in _production() if "randomgen" in _imports(path)]
    assert users == [VECTOR_MODULE]
    imported = {
        alias.name
        for node in ast.walk(ast.parse(VECTOR_MODULE.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "randomgen"
        for alias in node.names
    }
    assert imported == {"AESCounter"}, "no other (non-cryptographic) randomgen generator"


def test_aes_counter_is_built_once_keyed_from_os_urandom() -> None:
    built = {
        path: _calls(ast.parse(path.read_text()), "AESCounter")
        for path in _production()
        if "AESCounter(" in path.read_text()
    }
    assert list(built) == [VECTOR_MODULE] and len(built[VECTOR_MODULE]) == 1
    (call,) = built[VECTOR_MODULE]
    # key= only: no seed (randomgen would expand a guessable seed), no counter override
    assert not call.args and [k.arg for k in call.keywords] == ["key"]
    assert "os.urandom(KEY_BYTES)" in VECTOR_MODULE.read_text()


def test_production_never_passes_a_key_to_vector_noise() -> None:
    keyed = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path in _production()
        if path != VECTOR_MODULE
        for call in _calls(ast.parse(path.read_text()), "VectorNoise")
        if call.args or call.keywords
    ]
    assert keyed == [], "production code must let VectorNoise key itself from os.urandom"


def test_vector_noise_without_a_key_is_keyed_by_os_urandom(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[int] = []
    fixed = bytes(range(7, 7 + vector_samplers.KEY_BYTES))

    def fake_urandom(n: int) -> bytes:
        asked.append(n)
        return fixed

    monkeypatch.setattr(os, "urandom", fake_urandom)
    unkeyed = vector_samplers.VectorNoise().discrete_laplace(50, 3.0)
    assert asked == [vector_samplers.KEY_BYTES]
    monkeypatch.undo()
    assert np.array_equal(unkeyed, vector_samplers.VectorNoise(fixed).discrete_laplace(50, 3.0))
