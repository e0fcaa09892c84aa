"""Secure comparisons of mpcnode against MPyC, side by side: max, threshold test and median.

Usage: .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/comparison.py
       [--reps N] [--only LABEL ...]

The `bench` extra brings MPyC (`mpyc` on PyPI); without it only mpcnode's column is measured.
Cases: the max of n 32-bit values for n = 3, 4, 8; the threshold test "sum of n = 4 values >=
2^33" (one output bit); the median of n = 5 32-bit values. Every repetition gets fresh inputs
(seeded benchmark data, the same for both systems), and each output is checked against the
cleartext answer. One untimed warm-up repetition per case, then `--reps` (default 5) timed
ones. The whole run stops by itself (an alarm; every MPyC process is killed in a `finally`) and
asserts nothing: read the ratios and the counts, not the seconds (the machine is shared).

Same threat model on both sides: n parties, passive (honest-but-curious) adversary, honest
majority t = floor((n - 1) / 2), Shamir sharing over a prime field, statistical security
kappa = 40 bits (MPyC is run with `-K 40`; its default is 30).

mpcnode (in-process): `mpcnode.protocols.simulate` runs all n parties' generators in this one
process, on the production randomness (`SystemRandomSource`, the OS CSPRNG), routing their
exchanges in memory: Catrina-de Hoogh comparisons over GF(2^127 - 1), a tournament for the
max (which also opens the argmax), Batcher's network for the median.
- rounds: the simulation's communication steps plus 1 for releasing the output shares (to
  the analyst; `simulate` reconstructs them in memory and does not count that hop).
- bytes: field elements sent between parties, 16 bytes each, plus the released shares (n x
  16 bytes per output); no framing, since there is no wire.
- wall: seconds of one `simulate` call (all n parties one after another on one core, no
  network); CPU: process time of the same call, which is all n parties' protocol arithmetic;
  CPU/cmp: that divided by the number of comparisons (preprocessing and sharing included).

MPyC (n processes): the same file in `--mpyc-party` mode, one process per party, MPyC's own
TCP transport between them on 127.0.0.1 (`-P 127.0.0.1:port` per party, free ports picked
here, the listening socket bound to 127.0.0.1, no SSL), its default PRSS for the randomness.
`mpc.max` for the max (pairwise tree), `s >= T` for the threshold, `mpc.sorted(x)[(n-1)//2]`
for the median (Batcher's merge-exchange network; `statistics.median` uses a randomized
quickselect instead). The smallest SecInt that holds the compared differences (33 bits for
32-bit values, 35 for the sum).
- wall: from after an all-to-all synchronization (`mpc.transfer`) to the output in hand, per
  party, taken inside the party program; the slowest party's per repetition.
- bytes: MPyC's own counters (`protocol.nbytes_sent` per peer: payload plus its 12-byte
  message header), summed over all parties, the same window.
- CPU: each party's process time over that window, summed over parties.
- rounds: MPyC does not count rounds (its protocols run asynchronously, message by message),
  so a separate, untimed session counts them: every message carries a Lamport depth (one more
  than the deepest message its sender had received before sending it; 4 bytes in front of the
  payload), and rounds = the deepest message. A Lamport depth is never below the true number
  of rounds, but on a fast network it also counts unrelated messages that happen to arrive just
  before a send (up to twice the true figure here), so that session delays every received
  message by 150 ms, which makes the schedule lock-step. Here the counts were then the same
  with 100, 150 and 250 ms, and equal to a count by hand from MPyC 0.11's source: 1 round for
  the inputs, 9 per comparison and 1 per selection along the longest chain, 1 for the output
  (it starts each comparison once its operands are ready, so its 6-layer sort of 5 is 5 deep).
  Marked "<=" all the same: it is what the method guarantees.

mpcnode (daemons): the deployable system, a coordinator and n nodes as processes with mutual
TLS on loopback (`measure_daemons`): the analyst's whole `run`, every step a gRPC fan-out from
the coordinator with messages sealed end to end, each node's release recorded durably. This is
the column to hold against MPyC's wall time (both are n processes over TCP on the 2 cores;
mpcnode adds the coordinator, TLS, the ledger's fsync and its sealed relay).

Not like for like: "mpcnode (in-process)" runs all n parties one after another on one core
with no network, MPyC runs n processes on the 2 cores over TCP. Its wall ratio is a first look;
rounds, bytes and CPU over all parties are comparable. MPyC also draws its randomness
without interaction (PRSS, keys exchanged at connection), opens an output by sending to t
parties only (no consistency check) and uses a smaller field (75-77 bits here, 10-byte
elements): fewer bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from mpcnode.config import EVERY_KIND
from mpcnode.core.comparison_options import ComparisonOptions
from mpcnode.core.declaration import Declaration, Shape
from mpcnode.core.field import ELEMENT_BYTES
from mpcnode.core.randomness import SystemRandomSource
from mpcnode.core.spec import ComputationSpec, Kind
from mpcnode.federation import LocalFederation
from mpcnode.protocols.engine import KAPPA
from mpcnode.protocols.networks import sorting_layers
from mpcnode.protocols.programs import Extreme, Program, Ranked, Threshold
from mpcnode.protocols.simulate import simulate

VALUE_BITS = 32
LARGEST = (1 << VALUE_BITS) - 1
THRESHOLD = 1 << 33  # the threshold test's T: about half of the largest sum of 4 values
BOUND_S = 300  # the whole run is stopped past this
SESSION_TIMEOUT_S = 120.0  # one MPyC session (start, all repetitions, shutdown)
ROUNDS_DELAY_S = 0.15  # latency added to every MPyC message while its rounds are counted
PARTY_FLAG = "--mpyc-party"
Inputs = list[list[int]]  # [repetition][party]: rep 0 is the untimed warm-up


# -- the cases --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One computation (`max`, `threshold` or `median`) among `parties` parties."""

    kind: str
    parties: int

    @property
    def label(self) -> str:
        """`max n=8`."""
        return f"{self.kind} n={self.parties}"

    def program(self) -> Program:
        """mpcnode's program for the case."""
        if self.kind == "max":
            return Extreme(value_bits=VALUE_BITS)
        if self.kind == "threshold":
            return Threshold(at_least=Fraction(THRESHOLD), largest_abs=LARGEST)
        return Ranked(value_bits=VALUE_BITS, positions=(self.median_position,))

    @property
    def median_position(self) -> int:
        """The 0-based ascending rank of the (low) median."""
        return (self.parties - 1) // 2

    def answer(self, values: Sequence[int]) -> int:
        """The cleartext result both systems must open."""
        if self.kind == "max":
            return max(values)
        if self.kind == "threshold":
            return int(sum(values) >= THRESHOLD)
        return sorted(values)[self.median_position]

    def inputs(self, reps: int) -> Inputs:
        """Each party's 32-bit value, per repetition (benchmark data: seeded is fine)."""
        rng = np.random.default_rng(1000 * self.parties + len(self.kind))
        return [[int(v) for v in rng.integers(0, LARGEST + 1, self.parties)] for _ in range(reps)]


CASES = (Case("max", 3), Case("max", 4), Case("max", 8), Case("threshold", 4), Case("median", 5))


def merge_exchange_comparators(n: int) -> int:
    """Comparators of MPyC's `_sort` (Knuth's Algorithm 5.2.2M) for n elements."""
    count, t = 0, (n - 1).bit_length()
    p = 1 << (t - 1)
    while p:
        d, q, r = p, 1 << (t - 1), 0
        while d:
            count += sum(1 for i in range(n - d) if i & p == r)
            d, q, r = q - p, q >> 1, p
        p >>= 1
    return count


# -- what one system measured on one case ---------------------------------------------------------
@dataclass
class Measured:
    """One system's figures for one case; None where the system cannot tell."""

    system: str
    comparisons: int
    walls: list[float] = field(default_factory=list)  # seconds per timed repetition
    cpus: list[float] = field(default_factory=list)  # CPU seconds, all parties, per repetition
    bytes_sent: int | None = None  # all parties, one repetition
    rounds: int | None = None
    rounds_bound: bool = False  # True: `rounds` is an upper bound
    detail: str = ""

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float | None:
        return statistics.median(self.cpus) if self.cpus else None


def _check(case: Case, system: str, rep: int, got: int, values: Sequence[int]) -> None:
    if got != case.answer(values):
        raise RuntimeError(
            f"{case.label}: {system} gave {got}, not {case.answer(values)} (rep {rep})"
        )


# -- mpcnode, in one process ----------------------------------------------------------------------
def our_comparisons(case: Case) -> int:
    """How many comparisons mpcnode's program for `case` runs."""
    return {
        "max": case.parties - 1,
        "threshold": 1,
        "median": sum(len(layer) for layer in sorting_layers(case.parties)),
    }[case.kind]


def measure_inprocess(case: Case, inputs: Inputs) -> Measured:
    """All parties of mpcnode's program in this process (`simulate`), on the OS CSPRNG."""
    program = case.program()
    out = Measured("mpcnode (in-process)", our_comparisons(case))
    rng = SystemRandomSource()
    costs: set[tuple[int, int, int]] = set()
    for rep, values in enumerate(inputs):
        started, cpu = time.perf_counter(), time.process_time()
        sim = simulate(program, values, lambda _: rng)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        decoded = program.decode(sim.opened, case.parties)
        _check(case, out.system, rep, next(iter(decoded.values())), values)
        costs.add((sim.steps, sim.bytes_sent, len(sim.opened)))
        if rep:
            out.walls.append(wall)
            out.cpus.append(cpu)
    if len(costs) != 1:
        raise RuntimeError(f"{case.label}: steps or bytes changed between repetitions: {costs}")
    steps, sent, opened = costs.pop()
    out.rounds = steps + 1
    out.bytes_sent = sent + case.parties * opened * ELEMENT_BYTES
    out.detail = (
        f"{steps} steps + 1 release; {sent} B between parties + {opened} output(s) released"
    )
    return out


# -- mpcnode, real daemons --------------------------------------------------------------------
NAMES = ("alice", "bob", "carlos", "david", "erin", "frank", "grace", "heidi")


def _spec(case: Case, dataset: str) -> ComputationSpec:
    kind, options = {
        "max": (Kind.MAX, ComparisonOptions()),
        "threshold": (Kind.THRESHOLD, ComparisonOptions(at_least=Fraction(THRESHOLD))),
        "median": (Kind.QUANTILE, ComparisonOptions(quantile=Fraction(1, 2))),
    }[case.kind]
    return ComputationSpec(case.label, kind, dataset, 0, LARGEST, min_parties=3, comparison=options)


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of the processes so far (Linux /proc), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure_daemons(case: Case, inputs: Inputs, root: Path) -> Measured:
    """A real federation: a coordinator and n nodes as processes, mutual TLS on loopback.

    wall: the analyst's `run` (create, every fan-out, the result in hand); CPU: every daemon's
    CPU over that call, summed; rounds: fan-outs from the coordinator (Prepare, Share, each
    Step; the last Step returns the output shares).
    """
    program = case.program()
    out = Measured("mpcnode (daemons)", our_comparisons(case))
    fed = LocalFederation(
        root / case.label.replace(" ", "-"), NAMES[: case.parties],
        policy={"allowed_kinds": list(EVERY_KIND)},
    )  # fmt: skip
    with fed.setup().start():
        pids = [p.pid for p in fed.processes.values()]
        for rep, values in enumerate(inputs):
            dataset = f"bench-{case.kind}-{rep}"  # one dataset per repetition: a fresh ledger
            declaration = Declaration(dataset, Shape.SCALAR, 0, LARGEST)
            for party, value in zip(fed.parties, values, strict=True):
                with fed.local_client(party) as node:
                    node.submit(dataset, [value], declaration)
            with fed.analyst() as analyst:
                cpu, started = _cpu_seconds(pids), time.perf_counter()
                result = analyst.run(_spec(case, dataset))
                wall, cpu = time.perf_counter() - started, _cpu_seconds(pids) - cpu
            got = next(iter(result.outputs.values()))[0].item()
            _check(case, out.system, rep, int(got), values)
            if rep:
                out.walls.append(wall)
                out.cpus.append(cpu)
    steps = simulate(program, inputs[0], lambda _: SystemRandomSource()).steps
    out.rounds = steps + 2
    out.detail = f"Prepare + Share + {steps} Step fan-outs; bytes on the wire not counted"
    return out


# -- MPyC, one process per party on loopback ----------------------------------------------------
def mpyc_bit_length(case: Case) -> int:
    """The smallest SecInt length l with every compared difference in [-2^(l-1), 2^(l-1))."""
    if case.kind == "threshold":
        return max(case.parties * LARGEST, THRESHOLD).bit_length() + 1
    return VALUE_BITS + 1


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 just now (held together, so they are distinct)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _mpyc_session(case: Case, inputs: Inputs, mode: str, logs: Path) -> list[dict[str, Any]]:
    """Start one MPyC process per party, hand each its job, and collect their reports."""
    ports = _free_ports(case.parties)
    procs: list[subprocess.Popen[str]] = []
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    try:
        for index in range(case.parties):
            job = {
                "mode": mode,
                "index": index,
                "ports": ports,
                "kind": case.kind,
                "bit_length": mpyc_bit_length(case),
                "threshold": THRESHOLD,
                "median_position": case.median_position,
                "kappa": KAPPA,
                "values": [values[index] for values in inputs],
                "bound_s": int(SESSION_TIMEOUT_S) + 5,
            }
            with (logs / f"{case.kind}-{case.parties}-{mode}-{index}.log").open("w") as err:
                proc = subprocess.Popen(  # noqa: S603 (this interpreter, this file, no shell)
                    [sys.executable, __file__, PARTY_FLAG],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.close()
        _wait_all(case, procs, deadline, logs / f"{case.kind}-{case.parties}-{mode}")
        reports = []
        for proc in procs:  # a report is one short line: it fits the pipe, so waiting was safe
            assert proc.stdout is not None
            reports.append(json.loads(proc.stdout.read().strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _wait_all(
    case: Case, procs: Sequence[subprocess.Popen[str]], deadline: float, log_stem: Path
) -> None:
    """Until every party exited 0; the first one to fail (or the deadline) stops the session."""
    while True:
        codes = [proc.poll() for proc in procs]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                tail = Path(f"{log_stem}-{index}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{case.label}: MPyC party {index} exited {code}\n{tail}")
        if all(code == 0 for code in codes):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{case.label}: MPyC ran past {SESSION_TIMEOUT_S:.0f} s")
        time.sleep(0.02)


def measure_mpyc(case: Case, inputs: Inputs, logs: Path) -> Measured:
    """MPyC's n processes: a timed session, then an untimed one that counts rounds."""
    comparisons = {
        "max": case.parties - 1,
        "threshold": 1,
        "median": merge_exchange_comparators(case.parties),
    }[case.kind]
    out = Measured(f"MPyC ({case.parties} processes)", comparisons)
    timed = _mpyc_session(case, inputs, "time", logs)
    for rep, values in enumerate(inputs):
        for report in timed:
            _check(case, out.system, rep, report["outputs"][rep], values)
    sent = [sum(r["sent"][rep] for r in timed) for rep in range(1, len(inputs))]
    out.walls = [max(r["walls"][rep] for r in timed) for rep in range(1, len(inputs))]
    out.cpus = [sum(r["cpus"][rep] for r in timed) for rep in range(1, len(inputs))]
    out.bytes_sent = round(statistics.median(sent))
    counted = _mpyc_session(case, inputs[:1], "rounds", logs)
    for report in counted:
        _check(case, out.system, 0, report["outputs"][0], inputs[0])
    out.rounds = max(r["deepest"] for r in counted)
    out.rounds_bound = True
    slow = max(r["walls"][0] for r in counted)
    out.detail = (
        f"bytes over reps {min(sent)}-{max(sent)} B; rounds counted with "
        f"{ROUNDS_DELAY_S * 1e3:.0f} ms added to every message, that run took {slow:.2f} s = "
        f"{slow / ROUNDS_DELAY_S:.1f} delays; MPyC {timed[0]['version']}, "
        f"gmpy2 {'used' if timed[0]['gmpy2'] else 'absent (pure Python)'}"
    )
    return out


# -- the MPyC party program (runs in its own process) ---------------------------------------------
def mpyc_party() -> None:
    """One MPyC party: read the job from stdin, run it, print one JSON report on stdout."""
    job = json.loads(sys.stdin.readline())
    signal.alarm(job["bound_s"])  # never outlive the benchmark, whatever happens to the others
    ports = job["ports"]
    addresses = [f":{p}" if i == job["index"] else f"127.0.0.1:{p}" for i, p in enumerate(ports)]
    # MPyC reads its options from sys.argv when it is imported.
    sys.argv = [sys.argv[0], "--no-log", "--no-uvloop", "-K", str(job["kappa"])]
    for address in addresses:
        sys.argv += ["-P", address]
    from mpyc.runtime import mpc  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415 (bench extra)

    loop = mpc._loop  # MPyC listens on every interface unless told a host: keep it on loopback
    listen = loop.create_server

    async def loopback_server(*args: Any, **kwargs: Any) -> Any:
        return await listen(*args, **{**kwargs, "host": "127.0.0.1"})

    loop.create_server = loopback_server
    if job["mode"] == "rounds":
        _delay_delivery(loop, importlib.import_module("mpyc.asyncoro").MessageExchanger)
    report = mpc.run(_mpyc_main(mpc, job))
    report["version"] = mpc.version
    report["gmpy2"] = importlib.util.find_spec("gmpy2") is not None
    print(json.dumps(report), flush=True)


def _mpyc_compute(mpc: Any, job: dict[str, Any], x: list[Any]) -> Any:
    """The case's computation on the n shared inputs (a secure integer)."""
    if job["kind"] == "max":
        return mpc.max(x)
    if job["kind"] == "threshold":
        return mpc.sum(x) >= job["threshold"]
    return mpc.sorted(x)[job["median_position"]]


async def _mpyc_main(mpc: Any, job: dict[str, Any]) -> dict[str, Any]:
    await mpc.start()
    counter = _count_rounds(mpc) if job["mode"] == "rounds" else None
    secint = mpc.SecInt(job["bit_length"])
    me = mpc.pid

    def sent() -> int:
        return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != me)

    report: dict[str, Any] = {"walls": [], "cpus": [], "sent": [], "outputs": [], "deepest": 0}
    for value in job["values"]:
        await mpc.transfer(None)  # every party is here: start the clocks together
        if counter is not None:
            counter[:] = [0, 0]
        before, started, cpu = sent(), time.perf_counter(), time.process_time()
        x = mpc.input(secint(value))
        result = await mpc.output(_mpyc_compute(mpc, job, x))
        report["walls"].append(time.perf_counter() - started)
        report["cpus"].append(time.process_time() - cpu)
        report["sent"].append(sent() - before)
        report["outputs"].append(int(result))
        if counter is not None:
            report["deepest"] = counter[1]
    await mpc.shutdown()
    return report


def _delay_delivery(loop: asyncio.AbstractEventLoop, exchanger: Any) -> None:
    """Hand every received chunk to MPyC ROUNDS_DELAY_S late, in arrival order (one FIFO)."""
    deliver = exchanger.data_received
    queue: collections.deque[tuple[float, Any, bytes]] = collections.deque()

    def drain() -> None:
        while queue and queue[0][0] <= loop.time():
            _, protocol, data = queue.popleft()
            deliver(protocol, data)
        if queue:
            loop.call_at(queue[0][0], drain)

    def delayed(protocol: Any, data: bytes) -> None:
        queue.append((loop.time() + ROUNDS_DELAY_S, protocol, bytes(data)))
        if len(queue) == 1:
            loop.call_at(queue[0][0], drain)

    exchanger.data_received = delayed


def _count_rounds(mpc: Any) -> list[int]:
    """Tag every message with a Lamport depth; returns [clock, deepest], updated as it runs.

    A message's depth is one more than the deepest message its sender had received when it
    sent it; 4 bytes in front of the payload carry it (so this session's bytes are not used).
    """
    state = [0, 0]  # [deepest received so far, deepest sent]
    send, receive = mpc._send_message, mpc._receive_message

    def note(payload: bytes) -> bytes:
        state[0] = max(state[0], int.from_bytes(payload[:4], "little"))
        return payload[4:]

    def tagged_send(peer: int, data: bytes) -> None:
        depth = state[0] + 1
        state[1] = max(state[1], depth)
        send(peer, depth.to_bytes(4, "little") + data)

    def tagged_receive(peer: int) -> Any:
        got = receive(peer)
        if not isinstance(got, asyncio.Future):
            return note(got)
        stripped = mpc._loop.create_future()
        got.add_done_callback(lambda done: stripped.set_result(note(done.result())))
        return stripped

    mpc._send_message, mpc._receive_message = tagged_send, tagged_receive
    return state


# -- printing -----------------------------------------------------------------------------------
def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.3g} ms"


def _size(count: int | None) -> str:
    if count is None:
        return "n/a"
    return f"{count / 1e6:.3g} MB" if count >= 1e5 else f"{count / 1e3:.3g} kB"


HEADER = (
    f"{'case':<14}{'system':<24}{'rounds':>8}{'bytes sent':>12}{'wall p50':>11}"
    f"{'CPU':>11}{'CPU/cmp':>11}{'wall/MPyC':>11}"
)


def table_lines(case: Case, results: list[Measured]) -> list[str]:
    """One row per system, the case's label on the first; the ratio is to MPyC's wall p50."""
    reference = next((m for m in results if m.system.startswith("MPyC")), None)
    lines = []
    for row, m in enumerate(results):
        rounds = "n/a" if m.rounds is None else f"{'<=' if m.rounds_bound else ''}{m.rounds}"
        per = None if m.cpu is None else m.cpu / m.comparisons
        if reference is None or m is reference:
            ratio = "-" if m is reference else "n/a"
        else:
            ratio = f"{m.wall / reference.wall:.2f}x"
        lines.append(
            f"{case.label if row == 0 else '':<14}{m.system:<24}{rounds:>8}"
            f"{_size(m.bytes_sent):>12}{_ms(m.wall):>11}{_ms(m.cpu):>11}{_ms(per):>11}{ratio:>11}"
        )
    return lines


def detail_lines(case: Case, results: list[Measured]) -> list[str]:
    """The repetitions and what each row's counts are made of."""
    lines = []
    for m in results:
        reps = ", ".join(f"{w * 1e3:.3g}" for w in m.walls)
        lines.append(
            f"    {case.label} {m.system}: reps [{reps}] ms, {m.comparisons} cmp; {m.detail}"
        )
    return lines


def target_lines(measured: list[tuple[Case, list[Measured]]]) -> list[str]:
    """`met` or `GAP` against "no worse than MPyC" on the like-for-like figures (printed only)."""
    lines = []

    def judge(case: Case, name: str, ours: float, theirs: float, shown: str) -> None:
        verdict = "met" if ours <= theirs else "GAP"
        lines.append(f"  [{verdict}] {case.label} {name} <= MPyC's: {shown}")

    for case, results in measured:
        ours = next((m for m in results if m.system.startswith("mpcnode")), None)
        theirs = next((m for m in results if m.system.startswith("MPyC")), None)
        if ours is None or theirs is None:
            continue
        if ours.rounds is not None and theirs.rounds is not None:
            shown = f"{ours.rounds} vs <= {theirs.rounds}"
            judge(case, "rounds", ours.rounds, theirs.rounds, shown)
        if ours.bytes_sent is not None and theirs.bytes_sent is not None:
            shown = f"{_size(ours.bytes_sent)} vs {_size(theirs.bytes_sent)}"
            judge(case, "bytes", ours.bytes_sent, theirs.bytes_sent, shown)
        if ours.cpu is not None and theirs.cpu is not None:
            shown = f"{_ms(ours.cpu)} vs {_ms(theirs.cpu)} ({ours.cpu / theirs.cpu:.2f}x)"
            judge(case, "CPU over all parties", ours.cpu, theirs.cpu, shown)
    return lines


# -- the run ------------------------------------------------------------------------------------
def measure_case(case: Case, reps: int, with_mpyc: bool, logs: Path) -> list[Measured]:
    """Every system on the same inputs; one function per system (add a column here)."""
    inputs = case.inputs(reps + 1)
    systems: list[Callable[[], Measured]] = [
        lambda: measure_inprocess(case, inputs),
        lambda: measure_daemons(case, inputs, logs),
    ]
    if with_mpyc:
        systems.append(lambda: measure_mpyc(case, inputs, logs))
    return [measure() for measure in systems]


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the benchmark ran past its time bound; stopping every process")


def main(argv: Sequence[str]) -> None:
    if list(argv[:1]) == [PARTY_FLAG]:
        mpyc_party()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per case (5)")
    parser.add_argument(
        "--only", action="append", default=[], help='run only this case, e.g. "max n=8"'
    )
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.label in args.only]
    with_mpyc = importlib.util.find_spec("mpyc") is not None
    print(__doc__.split("\n\n", 1)[1] if __doc__ else "", flush=True)
    print(
        f"{len(cases)} cases, {args.reps} timed repetitions each after 1 warm-up; "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; stops by itself after "
        f"{BOUND_S} s",
        flush=True,
    )
    if not with_mpyc:
        print("MPyC is not installed (pip install -e '.[bench]'): measuring mpcnode only")
    print(f"\n{HEADER}", flush=True)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(BOUND_S)
    started = time.monotonic()
    measured: list[tuple[Case, list[Measured]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-comparison-") as tmp:
            for case in cases:
                results = measure_case(case, args.reps, with_mpyc, Path(tmp))
                measured.append((case, results))
                print("\n".join(table_lines(case, results)), flush=True)
    finally:
        signal.alarm(0)
        print(f"\ndetails ({time.monotonic() - started:.0f} s in all):")
        for case, results in measured:
            print("\n".join(detail_lines(case, results)))
        print("\ntargets (no worse than MPyC on rounds, bytes and CPU; printed, not asserted):")
        print("\n".join(target_lines(measured)) or "  none measured in this run")


if __name__ == "__main__":
    main(sys.argv[1:])
