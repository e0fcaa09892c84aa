"""Secure sum against its insecure floor, side by side and interleaved in one run (issue 9).

Usage: python benchmarks/secure_sum.py [--quick | --full] [--reps N] [--only LABEL ...]

`--quick` (the default) runs vectors of L = 1e5 and 1e6 reals with 4 parties and scalar rounds
with 4 and 16 parties, 3 repetitions each; `--full` adds L = 1e7 and 64 parties, 5 repetitions
each. Both stop by themselves (an alarm bounds the whole run; every process is stopped in a
`finally`). Asserts nothing; read the ratios, not the seconds (the machine is shared).

What runs. A real federation (`LocalFederation`: a coordinator and one `mpcnode serve` process
per party, fresh CA-issued certificates, mutual TLS on loopback), and beside it the insecure
floor: one aggregator process (a small gRPC server with generic handlers over raw bytes, on
the coordinator's certificate) and one sender process per party (on that party's
certificate), each streaming its plain vector in chunks of 512 KiB over mutual TLS, built with
the same `mpcnode.tls` helpers the daemons use. Same number of processes, same input bytes.

What is measured, per repetition, the two paths one after the other in alternating order:
- mpcnode: from calling CreateComputation until the analyst's WatchComputation stream reports
  the result published (the submit of each party's input is done before and not timed).
- floor: from the first sender's first send to the aggregator holding the whole sum (both
  timestamps CLOCK_MONOTONIC, which every process on the machine shares).
- ratio: mpcnode / floor of the same repetition; min, median and max over repetitions.
- wire per party: TCP payload bytes (TLS records, so HTTP/2 and TLS overhead included; no
  IP or TCP headers) that each party's process sent during one round: the kernel's per-socket
  `bytes_sent` (tcp_info, read with `ss -tinp`) summed over the sockets that process owns,
  after minus before the round; the mean over parties, median over repetitions.
- peak RSS: VmHWM of /proc/<pid>/status, reset (clear_refs 5) to the current RSS after the
  inputs were submitted, so it is the peak of that case's rounds, never below what the process
  still held from earlier cases (printed as "RSS at the case's start"); the largest over nodes.
Each case also runs one untimed first round of each path, checked against the plain sum; it
is printed as "first round" (the first case of a federation includes opening its channels).
"""

from __future__ import annotations

import argparse
import math
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np
import numpy.typing as npt
from figures import (
    DOMAIN,
    FRACTIONAL_BITS,
    Case,
    Figures,
    detail_line,
    summary_line,
    target_lines,
)
from floor import READY_TIMEOUT_S, ROUND_TIMEOUT_S
from processes import Child, floor_cmd, reset_peak, sent_by_pid, status_mib, tcp_bytes_sent

from mpcnode.client import CoordinatorClient
from mpcnode.core.spec import ComputationSpec
from mpcnode.federation import LocalFederation

# The coordinator waits long for Prepare: a first round over 64 cold nodes is slow, and a
# node dropped as unreachable would change the participant set (which its ledger refuses).
ROUND_SETTINGS: dict[str, object] = {
    "prepare_timeout_seconds": 300.0,
    "round_deadline_seconds": 800,
}
BOUND_S = {"quick": 300, "full": 1800}  # the whole run is stopped past this


# -- one case ---------------------------------------------------------------------------------
@dataclass
class Group:
    """A running federation of `n` parties with its floor beside it."""

    fed: LocalFederation
    analyst: CoordinatorClient
    aggregator: Child
    senders: list[Child]

    def daemon_pids(self) -> tuple[list[int], int]:
        """The node pids in party order, and the coordinator's."""
        procs = self.fed.processes
        return [procs[p].pid for p in self.fed.parties], procs["coordinator"].pid

    def floor_pids(self) -> list[int]:
        """The senders' pids in party order."""
        return [s.proc.pid for s in self.senders]


def secure_round(group: Group, spec: ComputationSpec) -> tuple[float, str]:
    """Seconds from CreateComputation to the published event, and the computation id."""
    started = time.monotonic()
    cid = group.analyst.create(spec, group.fed.parties)
    state = ""
    for event in group.analyst.watch(cid, timeout=ROUND_TIMEOUT_S):
        state = event.state
        if state in ("published", "failed"):
            break
    elapsed = time.monotonic() - started
    if state != "published":
        raise RuntimeError(f"{spec.dataset}: computation {state}: {group.analyst.status(cid)}")
    return elapsed, cid


def floor_round(group: Group, round_id: str) -> tuple[float, float]:
    """Seconds from the first send to the aggregate being ready, and the aggregate's sum."""
    for sender in group.senders:
        sender.send(f"send {round_id} {len(group.senders)}")
    starts = [float(s.expect("sent", ROUND_TIMEOUT_S)[0]) for s in group.senders]
    done, ready, total = group.aggregator.expect("ready", ROUND_TIMEOUT_S)
    if done != round_id:
        raise RuntimeError(f"floor: round {done} finished while {round_id} was expected")
    return float(ready) - min(starts), float(total)


def _submit(group: Group, case: Case, folder: Path) -> npt.NDArray[np.float64]:
    """Each party declares and submits its input; its sender loads the same values."""
    rng = np.random.default_rng(case.length * 1000 + case.parties)
    expected = np.zeros(case.length, dtype=np.float64)
    for party, sender in zip(group.fed.parties, group.senders, strict=True):
        values = case.values(rng)
        path = folder / f"{case.dataset}-{party}.npy"
        np.save(path, values)
        with group.fed.local_client(party) as node:
            node.submit(case.dataset, values, case.declaration())
        sender.send(f"load {path}")
        expected += values
    for sender in group.senders:
        sender.expect("loaded", ROUND_TIMEOUT_S)
    return expected


def _check(
    case: Case, got: npt.NDArray[np.float64], floor_total: float, want: npt.NDArray[np.float64]
) -> None:
    """Both paths must give the plain sum (the secure one to the fixed-point rounding)."""
    tolerance = case.parties * 2.0**-FRACTIONAL_BITS + 1e-9 * case.parties * DOMAIN
    if got.shape != want.shape or not np.allclose(got, want, rtol=0, atol=tolerance):
        raise RuntimeError(f"{case.label}: the secure sum differs from the plain sum")
    if not math.isclose(floor_total, float(want.sum()), rel_tol=1e-9, abs_tol=1e-6 * case.length):
        raise RuntimeError(f"{case.label}: the floor's sum differs from the plain sum")


def _wire(pids: list[int], run: Callable[[], None]) -> dict[int, int] | None:
    """Run one round and return the bytes each of `pids` sent meanwhile (None without ss)."""
    before = tcp_bytes_sent(set(pids))
    run()
    return sent_by_pid(before, tcp_bytes_sent(set(pids)))


def _repetition(group: Group, figures: Figures, spec: ComputationSpec, rep: int) -> None:
    """One timed round of each path, in alternating order, with their wire bytes."""
    nodes, coordinator = group.daemon_pids()
    senders = group.floor_pids()
    case = figures.case

    def secure() -> None:
        figures.secure.append(secure_round(group, spec)[0])

    def floor() -> None:
        figures.floor.append(floor_round(group, f"{case.dataset}-{rep}")[0])

    for path in ("secure", "floor") if rep % 2 == 0 else ("floor", "secure"):
        if path == "secure":
            sent = _wire([*nodes, coordinator], secure)
            if sent is not None:
                figures.secure_wire.append(statistics.mean(sent.get(p, 0) for p in nodes))
                figures.coordinator_wire.append(sent.get(coordinator, 0))
        else:
            sent = _wire(senders, floor)
            if sent is not None:
                figures.floor_wire.append(statistics.mean(sent.get(p, 0) for p in senders))


def run_case(group: Group, case: Case, reps: int, folder: Path) -> Figures:
    """Submit, one checked first round of each path, then `reps` interleaved repetitions."""
    figures = Figures(case)
    want = _submit(group, case, folder)
    nodes, coordinator = group.daemon_pids()
    senders = group.floor_pids()
    for pid in (*nodes, coordinator, group.aggregator.proc.pid, *senders):
        reset_peak(pid)
    figures.start_rss = (
        max(status_mib(p, "VmRSS") for p in nodes),
        status_mib(coordinator, "VmRSS"),
    )
    spec = case.spec()
    first_secure, cid = secure_round(group, spec)
    got = group.analyst.result(cid).outputs["sum"].astype(np.float64)
    first_floor, floor_total = floor_round(group, f"{case.dataset}-first")
    _check(case, got, floor_total, want)
    figures.first = (first_secure, first_floor)
    for rep in range(reps):
        _repetition(group, figures, spec, rep)
    figures.peaks = {
        "node": max(status_mib(p) for p in nodes),
        "coordinator": status_mib(coordinator),
        "floor aggregator": status_mib(group.aggregator.proc.pid),
        "floor sender": max(status_mib(p) for p in senders),
    }
    return figures


# -- a federation and its floor -----------------------------------------------------------------
def _start_federation(fed: LocalFederation) -> None:
    """Start every daemon, then wait for each ready file with a generous timeout."""
    for name in (*fed.parties, "coordinator"):
        fed.start_daemon(name)
    limit = time.monotonic() + READY_TIMEOUT_S
    for name in (*fed.parties, "coordinator"):
        while not (fed.root / name / "ready").exists():
            code = fed.processes[name].poll()
            if code is not None or time.monotonic() > limit:
                tail = (fed.root / "logs" / f"{name}.log").read_text()[-2000:]
                raise RuntimeError(f"{name} did not start (exit code {code}):\n{tail}")
            time.sleep(0.1)


def _stop_federation(fed: LocalFederation) -> None:
    """SIGTERM every daemon at once (64 one by one would take long), then reap them all."""
    for proc in fed.processes.values():
        if proc.poll() is None:
            proc.terminate()
    fed.stop()


def _floor_children(fed: LocalFederation) -> tuple[Child, list[Child]]:
    logs = fed.root / "logs"
    coordinator = fed.tls("coordinator", "coordinator")
    aggregator = Child(
        "floor aggregator",
        floor_cmd("_aggregator", str(coordinator.cert), str(coordinator.key), str(coordinator.ca)),
        logs / "floor-aggregator.log",
    )
    address = f"127.0.0.1:{aggregator.expect('listening', READY_TIMEOUT_S)[0]}"
    senders = []
    for party in fed.parties:
        tls = fed.tls(party, party)
        cmd = floor_cmd("_party", address, str(tls.cert), str(tls.key), str(tls.ca))
        senders.append(Child(f"floor sender {party}", cmd, logs / f"floor-{party}.log"))
    return aggregator, senders


def run_group(parties: int, cases: list[Case], reps: int, root: Path) -> list[Figures]:
    """Start a federation of `parties` and its floor, run `cases`, stop everything."""
    names = tuple(f"p{i:02d}" for i in range(parties))
    fed = LocalFederation(root / f"federation-{parties}", names, rounds=ROUND_SETTINGS)
    fed.root.mkdir(parents=True)
    children: list[Child] = []
    started = time.monotonic()
    try:
        fed.setup()
        _start_federation(fed)
        aggregator, senders = _floor_children(fed)
        children = [aggregator, *senders]
        for sender in senders:
            sender.expect("ready", READY_TIMEOUT_S)
        print(
            f"  {parties} nodes, a coordinator and the floor's {parties + 1} processes "
            f"ready in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        results = []
        with fed.analyst() as analyst:
            group = Group(fed, analyst, aggregator, senders)
            for case in cases:
                figures = run_case(group, case, reps, fed.root)
                print(summary_line(figures), flush=True)
                print(detail_line(figures), flush=True)
                results.append(figures)
        return results
    finally:
        for child in children:  # at EOF the floor's processes exit while the daemons stop
            child.close_stdin()
        _stop_federation(fed)
        for child in children:
            child.stop()


def plan(full: bool, only: Sequence[str] = ()) -> list[tuple[int, list[Case]]]:
    """The federations to start (by size) and the cases each runs (`only`: these labels)."""
    lengths = (10**5, 10**6, 10**7) if full or only else (10**5, 10**6)
    groups = [(4, [*(Case(length, 4) for length in lengths), Case(1, 4)]), (16, [Case(1, 16)])]
    if full or only:
        groups.append((64, [Case(1, 64)]))
    if only:
        groups = [(n, [c for c in cases if c.label in only]) for n, cases in groups]
    return [(n, cases) for n, cases in groups if cases]


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the benchmark ran past its time bound; stopping every process")


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes only (the default)")
    mode.add_argument("--full", action="store_true", help="also L=1e7 and 64 parties")
    parser.add_argument("--reps", type=int, default=0, help="repetitions (3 quick, 5 full)")
    parser.add_argument(
        "--only", action="append", default=[], help='run only this case, e.g. "L=1e7 n=4"'
    )
    args = parser.parse_args(argv)
    reps = args.reps or (5 if args.full else 3)
    bound = BOUND_S["full" if args.full else "quick"]
    print(__doc__.split("\n\n", 1)[1] if __doc__ else "", flush=True)
    print(
        f"{'full' if args.full else 'quick'} run: {reps} repetitions per case, stops by itself "
        f"after {bound} s; secure vectors are reals with {FRACTIONAL_BITS} fractional bits\n",
        flush=True,
    )
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(bound)
    started = time.monotonic()
    results: list[Figures] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-secure-sum-") as tmp:
            for parties, cases in plan(args.full, args.only):
                results += run_group(parties, cases, reps, Path(tmp))
    finally:
        signal.alarm(0)
        print(f"\nsummary ({time.monotonic() - started:.0f} s in all):")
        for figures in results:
            print(summary_line(figures))
        print("\ntargets (issue 9):")
        print("\n".join(target_lines(results)) or "  none measured in this run")


if __name__ == "__main__":
    main(sys.argv[1:])
