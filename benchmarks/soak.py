"""Soak: many sequential scalar rounds on one federation, and what the daemons accumulate.

Usage: python benchmarks/soak.py [--rounds N] [--window W]

Starts a real federation (a coordinator and 4 nodes as processes, mutual TLS on loopback)
and runs N exact scalar rounds one after the other (10,000 by default). Every W rounds
(1,000 by default) it prints the window's rounds per second and p50/p95/p99 latency, then
each daemon's RSS and open file descriptors and the storage per round of the coordinator and
of one node (their data directories, WAL included). It ends with the goals of issue 10:
latency flat across windows, RSS growth under 10% after the first window, no fd growth.
(Computations at once against one after another: benchmarks/concurrency.py.) Bounded by an
alarm; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation

PARTIES = ("alice", "bob", "carlos", "david")
BOUND_S = 3 * 3600
SPEC = ComputationSpec("soak", Kind.SUM, "soak", 0, 1000, min_parties=3)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _disk(folder: Path) -> int:
    """Bytes of the SQLite file itself; its WAL is bounded (16 MiB) and reused, not grown."""
    return sum(p.stat().st_size for p in folder.glob("*.sqlite3"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(fed: LocalFederation, rounds: int, window: int) -> None:
    """Run the rounds and print one line per window and the goals at the end."""
    declaration = Declaration("soak", Shape.SCALAR, 0, 1000)
    for value, party in enumerate(PARTIES):
        with fed.local_client(party) as node:
            node.submit("soak", [value], declaration)
    pids = {name: proc.pid for name, proc in fed.processes.items()}
    with fed.analyst() as analyst:
        analyst.run(SPEC)  # warm
        base_disk = {"coordinator": _disk(fed.root / "coordinator" / "data")}
        base_disk["alice"] = _disk(fed.root / "alice" / "data")
        windows: list[tuple[float, dict[str, float], dict[str, int]]] = []
        done = 0
        while done < rounds:
            latencies = []
            started = time.perf_counter()
            for _ in range(min(window, rounds - done)):
                t0 = time.perf_counter()
                analyst.run(SPEC)
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
            done += len(latencies)
            rss = {name: _rss_mib(pid) for name, pid in pids.items()}
            fds = {name: _fds(pid) for name, pid in pids.items()}
            per_round = {
                name: (_disk(fed.root / name / "data") - base) / done
                for name, base in base_disk.items()
            }
            windows.append((statistics.median(latencies), rss, fds))
            print(
                f"rounds {done - len(latencies):>6}-{done:<6} {len(latencies) / elapsed:6.1f}/s  "
                f"p50 {statistics.median(latencies) * 1e3:6.1f} ms  "
                f"p95 {_pct(latencies, 0.95) * 1e3:6.1f} ms  "
                f"p99 {_pct(latencies, 0.99) * 1e3:6.1f} ms  "
                f"RSS coordinator {rss['coordinator']:.0f} MiB, nodes "
                f"{max(v for k, v in rss.items() if k != 'coordinator'):.0f} MiB  "
                f"fds {fds['coordinator']}/{max(v for k, v in fds.items() if k != 'coordinator')}  "
                f"storage/round coordinator {per_round['coordinator']:.0f} B, "
                f"node {per_round['alice']:.0f} B",
                flush=True,
            )
    _goals(windows)


def _goals(windows: list[tuple[float, dict[str, float], dict[str, int]]]) -> None:
    if len(windows) < 2:
        print("\ngoals: need at least two windows")
        return
    first, last = windows[0], windows[-1]
    growth = max(last[1][n] / first[1][n] - 1 for n in first[1])
    fd_growth = max(last[2][n] - first[2][n] for n in first[2])
    print("\ngoals (issue 10):")
    print(f"  latency p50, last window / first: {last[0] / first[0]:.2f}x (flat is about 1)")
    print(f"  RSS growth after the first window, worst daemon: {growth * 100:+.1f}% (goal < 10%)")
    print(f"  open fds, last window - first, worst daemon: {fd_growth:+d} (goal 0)")


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the soak ran past its time bound; stopping every process")


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(BOUND_S)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
            fed = LocalFederation(Path(tmp), PARTIES).setup()
            try:
                fed.start()
                soak(fed, args.rounds, args.window)
            finally:
                fed.stop()
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    main(sys.argv[1:])
