"""Helpers of benchmarks/secure_sum.py: child processes driven by lines, and what they cost.

A benchmark's measurement tools, not product code: processes answering one line per command,
the bytes each process put on the wire (the kernel's per-socket `bytes_sent`, read with
`ss -tinp`), and peak memory (VmHWM of /proc/<pid>/status, reset with clear_refs).
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


# -- child processes driven line by line ------------------------------------------------------
class Child:
    """A helper process that takes commands on stdin and answers one line each on stdout."""

    def __init__(self, name: str, cmd: Sequence[str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def send(self, line: str) -> None:
        """Write one command line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, word: str, timeout: float) -> list[str]:
        """The fields after `word` of the next answer; RuntimeError if it is anything else."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: no answer within {timeout:.0f} s") from None
        fields = (line or "").split()
        if not fields or fields[0] != word:
            tail = self.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{self.name}: expected {word!r}, got {line!r}\n{tail}")
        return fields[1:]

    def close_stdin(self) -> None:
        """Close the child's stdin, which tells it to exit."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):  # a child that died has a broken pipe
                self.proc.stdin.close()

    def stop(self) -> None:
        """Close stdin (the child exits at EOF), then terminate and kill if it lingers."""
        self.close_stdin()
        for action in (None, self.proc.terminate, self.proc.kill):
            if action is not None and self.proc.poll() is None:
                action()
            try:
                self.proc.wait(5)
                return
            except subprocess.TimeoutExpired:
                continue


def floor_cmd(*args: str) -> list[str]:
    """The command line of one of the floor's processes (benchmarks/floor.py)."""
    return [sys.executable, str(Path(__file__).resolve().with_name("floor.py")), *args]


# -- measurements -----------------------------------------------------------------------------
_PID = re.compile(r"pid=(\d+),")
_SENT = re.compile(r"\bbytes_sent:(\d+)")


def tcp_bytes_sent(pids: set[int]) -> dict[tuple[int, str, str], int] | None:
    """`bytes_sent` of every TCP socket owned by `pids`, by (pid, local, peer); None without ss."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    out = subprocess.run(  # noqa: S603 (iproute2's ss, fixed arguments)
        [ss, "-tinpOH"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    sockets: dict[tuple[int, str, str], int] = {}
    for line in out.splitlines():
        fields, pid, sent = line.split(), _PID.search(line), _SENT.search(line)
        if pid is not None and int(pid.group(1)) in pids and len(fields) > 4:
            sockets[(int(pid.group(1)), fields[3], fields[4])] = int(sent.group(1)) if sent else 0
    return sockets


def sent_by_pid(
    before: dict[tuple[int, str, str], int] | None, after: dict[tuple[int, str, str], int] | None
) -> dict[int, int] | None:
    """Bytes each pid sent between two snapshots (a socket opened between counts from 0)."""
    if before is None or after is None:
        return None
    sent: dict[int, int] = {}
    for key, total in after.items():
        sent[key[0]] = sent.get(key[0], 0) + max(0, total - before.get(key, 0))
    return sent


def reset_peak(pid: int) -> None:
    """Reset a process's VmHWM to its current RSS (Linux clear_refs 5); ignored if refused."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def status_mib(pid: int, key: str = "VmHWM") -> float:
    """A memory figure of /proc/<pid>/status (VmHWM: the peak RSS) in MiB; NaN if unreadable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan
    match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else math.nan
