"""Generate the Python stubs (with .pyi) from proto/ into the package tree, or check them.

The stubs are committed so that installing mpcnode needs no code generator; CI runs
`python scripts/gen_protos.py --check`, which fails when a committed stub differs from what
the .proto files generate (someone edited a .proto and forgot to regenerate).

Only our own contract, proto/mpcnode/, is generated. proto/ also ships the standard
grpc.health.v1 protocol for partners, but its Python stubs come with grpcio-health-checking
(grpc_health.v1), which the daemons serve it with; a second copy of the same proto file in
the package would clash with those in the descriptor pool.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
# The tree generated from: our contract, not the upstream protocols shipped beside it.
OWN_PROTOS = PROTO_ROOT / "mpcnode"
PACKAGE_DIR = ROOT / "mpcnode" / "api" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> None:
    """Run protoc (from grpcio-tools) with the mypy-protobuf plugins into out_dir."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in OWN_PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    # protoc finds the mypy-protobuf plugins on PATH; put this interpreter's scripts first.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generated_files(base: Path) -> list[Path]:
    """The generated files under base/mpcnode/api/v1, by name."""
    v1 = base / "mpcnode" / "api" / "v1"
    return sorted(p for p in v1.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main() -> int:
    """Generate into the tree, or with --check compare a fresh generation with the tree."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = generated_files(Path(tmp))
        if args.check:
            stale = [
                f.name
                for f in fresh
                if not (PACKAGE_DIR / f.name).exists()
                or not filecmp.cmp(f, PACKAGE_DIR / f.name, shallow=False)
            ]
            if stale:
                print(f"stale generated stubs: {', '.join(stale)}; run scripts/gen_protos.py")
                return 1
            print("generated stubs are up to date")
            return 0
        PACKAGE_DIR.mkdir(parents=True, exist_ok=True)
        for f in fresh:
            (PACKAGE_DIR / f.name).write_bytes(f.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
