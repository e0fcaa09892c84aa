"""Concurrency: C scalar computations at once against the same C one after another (issue 10,
item 9: at once must take at most half the time).

Usage: python benchmarks/concurrency.py [--count C] [--pairs K]

Starts two real federations (a coordinator and 4 nodes as processes each, mutual TLS on
loopback) that differ only in `rounds.batch_calls`: one sends the calls that queue for a node
as one RoundControl.Batch, the other sends every call alone (the behaviour before batches),
which is the baseline measured in the same run. For each federation, K times, interleaved
with the other: C computations run one after another, then C at once (C analyst threads).
Prints each pair's ratio (at once / one after another), the median, the CPU all daemons and
the analyst spent per computation in each mode (from /proc), and how many calls each message
to a node carried (the coordinator's mpc_round_calls_per_message). Idle daemons use no CPU,
so the federation not being timed does not disturb the other. Bounded by an alarm; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from mpcnode.client import CoordinatorClient
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation

PARTIES = ("alice", "bob", "carlos", "david")
BOUND_S = 1800
SPEC = ComputationSpec("concurrency", Kind.SUM, "bench", 0, 1000, min_parties=3)
TARGET = 0.5


def _cpu_seconds(fed: LocalFederation) -> float:
    """CPU time of every daemon of `fed` and of this process (the analyst) so far."""
    total = 0.0
    for process in fed.processes.values():
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    return total + own.ru_utime + own.ru_stime


def _calls_per_message(fed: LocalFederation) -> tuple[float, float]:
    url = f"http://127.0.0.1:{fed.metrics_ports['coordinator']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()

    def value(name: str) -> float:
        match = re.search(rf"^mpc_round_calls_per_message_{name} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("sum"), value("count")


class Mode:
    """One federation's figures, accumulated over the pairs."""

    def __init__(self, name: str, fed: LocalFederation, analyst: CoordinatorClient) -> None:
        self.name = name
        self.fed = fed
        self.analyst = analyst
        self.ratios: list[float] = []
        self.cpu = {"one after another": 0.0, "at once": 0.0}
        self.calls = 0.0
        self.messages = 0.0

    def pair(self, count: int) -> None:
        """Time `count` computations one after another, then at once."""
        walls = {}
        for how in ("one after another", "at once"):
            cpu, calls = _cpu_seconds(self.fed), _calls_per_message(self.fed)
            started = time.perf_counter()
            if how == "at once":
                with ThreadPoolExecutor(count) as pool:
                    list(pool.map(lambda _: self.analyst.run(SPEC), range(count)))
            else:
                for _ in range(count):
                    self.analyst.run(SPEC)
            walls[how] = time.perf_counter() - started
            self.cpu[how] += _cpu_seconds(self.fed) - cpu
            if how == "at once":
                after = _calls_per_message(self.fed)
                self.calls += after[0] - calls[0]
                self.messages += after[1] - calls[1]
        ratio = walls["at once"] / walls["one after another"]
        self.ratios.append(ratio)
        print(
            f"{self.name:>10}: one after another {walls['one after another']:.2f} s, "
            f"at once {walls['at once']:.2f} s, ratio {ratio:.2f}",
            flush=True,
        )


def _federation(
    stack: ExitStack, root: Path, batch: bool
) -> tuple[LocalFederation, CoordinatorClient]:
    fed = LocalFederation(root, PARTIES, rounds={"batch_calls": batch}, metrics=True).setup()
    stack.callback(fed.stop)
    fed.start()
    declaration = Declaration("bench", Shape.SCALAR, 0, 1000)
    for value, party in enumerate(PARTIES):
        with fed.local_client(party) as node:
            node.submit("bench", [value], declaration)
    analyst = stack.enter_context(fed.analyst())
    for _ in range(10):  # warm: channels, caches
        analyst.run(SPEC)
    return fed, analyst


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the benchmark ran past its time bound; stopping every process")


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=50, help="computations per batch of runs")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs per mode")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(BOUND_S)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp, ExitStack() as stack:
            modes = [
                Mode(name, *_federation(stack, Path(tmp) / name, batch))
                for name, batch in (("batched", True), ("unbatched", False))
            ]
            for _ in range(args.pairs):
                for mode in modes:
                    mode.pair(args.count)
            print()
            runs = args.pairs * args.count
            for mode in modes:
                median = statistics.median(mode.ratios)
                per = {how: seconds / runs * 1e3 for how, seconds in mode.cpu.items()}
                alone, together = per["one after another"], per["at once"]
                carried = mode.calls / mode.messages if mode.messages else float("nan")
                print(
                    f"{mode.name:>10}: ratio median {median:.2f} (min {min(mode.ratios):.2f}, "
                    f"max {max(mode.ratios):.2f}); CPU per computation {alone:.1f} ms one "
                    f"after another, {together:.1f} ms at once; "
                    f"{carried:.1f} calls per message at once"
                )
            best = statistics.median(modes[0].ratios)
            verdict = "met" if best <= TARGET else "not met"
            print(f"\ntarget: {args.count} at once <= {TARGET}x one after another: {verdict}")
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    main(sys.argv[1:])
