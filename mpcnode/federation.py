"""A whole federation on one machine: fresh PKI, configs, and daemons as real processes.

Used by `mpcnode demo` and by the integration tests, so both exercise exactly what a
deployment runs: separate `mpcnode serve` and `mpc-coordinator serve` processes, each with
its own certificate and SQLite file, talking mutual TLS on loopback. Readiness is the
daemon's ready file, never a sleep.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from mpcnode.client import CoordinatorClient, LocalClient
from mpcnode.errors import Unavailable
from mpcnode.pki import Identity, Role, create_ca, issue, public_key_pin
from mpcnode.seal_keys import create_seal_key, public_seal_key, seal_key_path
from mpcnode.tls import TlsFiles

DEMO_PARTIES = ("alice", "bob", "carlos", "david")
_READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the daemon binds it a moment later).

    Chosen below the kernel's ephemeral range: a port from that range could be taken, before
    the daemon binds it, by the local end of any outgoing connection on the machine (a CI
    run caught this once). Falls back to a kernel-chosen port.
    """
    low = _ephemeral_low()
    for _ in range(50):
        port = secrets.randbelow(low - _FIRST_PORT) + _FIRST_PORT
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_FIRST_PORT = 10000


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, _FIRST_PORT + 1000)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):  # an inline table, e.g. policy.budget.datasets
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_toml(path: Path, doc: Mapping[str, object]) -> None:
    """Write a flat-or-one-level-nested mapping as TOML (tables after plain keys)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, Mapping)]
    for key, table in doc.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")


class LocalFederation:
    """A coordinator and one node per party under `root`, started as separate processes."""

    def __init__(
        self,
        root: Path,
        parties: Sequence[str] = DEMO_PARTIES,
        policy: Mapping[str, object] | None = None,
        rounds: Mapping[str, object] | None = None,
        pin_keys: bool = True,
        daemon_env: Mapping[str, Mapping[str, str]] | None = None,
        metrics: bool = False,
        datasets: Mapping[str, Mapping[str, Mapping[str, object]]] | None = None,
    ) -> None:
        self.root = root
        # Datasets each party's config declares ([datasets.<name>] tables), by party.
        self._datasets = {p: dict(d) for p, d in (datasets or {}).items()}
        # Extra environment of single daemons, e.g. a fault test's MPCNODE_FAILPOINT.
        self._daemon_env = dict(daemon_env or {})
        self.parties = tuple(parties)
        self._policy = dict(policy or {})
        self._rounds = dict(rounds or {})
        self._pin_keys = pin_keys
        self.ports: dict[str, int] = {}
        # With `metrics`, every daemon serves Prometheus metrics on 127.0.0.1 at this port.
        self.metrics_ports: dict[str, int] = {}
        self._metrics = metrics
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- set-up -------------------------------------------------------------------------
    def setup(self) -> LocalFederation:
        """Issue every certificate and write the roster and every daemon's config."""
        self.ca_dir = self.root / "ca"
        create_ca(self.ca_dir, "demo")
        hosts = ("localhost", "127.0.0.1")
        issue(
            self.ca_dir, self.root / "coordinator", Identity(Role.COORDINATOR, "coordinator"), hosts
        )
        issue(self.ca_dir, self.root / "analyst", Identity(Role.ANALYST, "analyst"), ())
        for party in self.parties:
            issue(self.ca_dir, self.root / party, Identity(Role.PARTY, party), hosts)
            create_seal_key(seal_key_path(self.root / party, party))
            issue(self.ca_dir, self.root / party, Identity(Role.CLIENT, "hr", org=party), ())
            self.ports[party] = free_port()
        self.ports["coordinator"] = free_port()
        if self._metrics:
            self.metrics_ports = {name: free_port() for name in (*self.parties, "coordinator")}
        self.write_roster()
        for party in self.parties:
            self._write_node_config(party)
        write_toml(
            self.root / "coordinator" / "coordinator.toml",
            {
                "listen": f"127.0.0.1:{self.ports['coordinator']}",
                "data_dir": "data",
                "roster_file": "../roster.toml",
                "tls": {"cert": "coordinator.crt", "key": "coordinator.key", "ca": "ca.crt"},
                "rounds": self._rounds,
                "metrics": self._metrics_table("coordinator"),
            },
        )
        return self

    def write_roster(self, pins: Mapping[str, str] | None = None) -> None:
        """Write roster.toml; `pins` overrides a party's pin (tests use a wrong one)."""
        lines = []
        for party in self.parties:
            seal_key = public_seal_key(seal_key_path(self.root / party, party))
            lines += [
                "[[party]]",
                f"id = {_toml_value(party)}",
                f'address = "127.0.0.1:{self.ports[party]}"',
                f"seal_key = {_toml_value(seal_key)}",
            ]
            pin = (pins or {}).get(party)
            if pin is None and self._pin_keys:
                pin = public_key_pin((self.root / party / f"{party}.crt").read_bytes())
            if pin is not None:
                lines.append(f"pin = {_toml_value(pin)}")
            lines.append("")
        (self.root / "roster.toml").write_text("\n".join(lines))

    def _write_node_config(self, party: str) -> None:
        # The coordinator's key is pinned like every party's (DESIGN 4.3), unless the
        # federation was asked not to pin keys at all.
        coordinator: dict[str, object] = {}
        if self._pin_keys:
            cert = self.root / "coordinator" / "coordinator.crt"
            coordinator["pin"] = public_key_pin(cert.read_bytes())
        write_toml(
            self.root / party / "node.toml",
            {
                "party_id": party,
                "listen": f"127.0.0.1:{self.ports[party]}",
                "data_dir": "data",
                "roster_file": "../roster.toml",
                "tls": {"cert": f"{party}.crt", "key": f"{party}.key", "ca": "ca.crt"},
                "seal_key": seal_key_path(Path("."), party).name,
                "coordinator": coordinator,
                "policy": self._policy,
                "metrics": self._metrics_table(party),
                "datasets": self._datasets.get(party, {}),
            },
        )

    def _metrics_table(self, name: str) -> dict[str, object]:
        port = self.metrics_ports.get(name)
        return {"listen": f"127.0.0.1:{port}"} if port else {}

    # -- processes ----------------------------------------------------------------------
    def start(self) -> LocalFederation:
        """Start the coordinator and every node, and wait until all are serving.

        If one daemon fails to start, every daemon already started is stopped before the
        error propagates: a caller's `with fed.setup().start():` has not entered its block
        yet, so nothing else would stop them.
        """
        try:
            for name in (*self.parties, "coordinator"):
                self.start_daemon(name, self._daemon_env.get(name))
            for name in (*self.parties, "coordinator"):
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def start_daemon(self, name: str, env: Mapping[str, str] | None = None) -> None:
        """Start one daemon (`coordinator` or a party) as a process; logs go to <root>/logs.

        `env` adds environment variables (the fault tests arm a failpoint with it).
        """
        folder = self.root / name
        ready = folder / "ready"
        ready.unlink(missing_ok=True)
        if name == "coordinator":
            cmd = [
                sys.executable,
                "-m",
                "coordinator",
                "serve",
                "--config",
                str(folder / "coordinator.toml"),
                "--ready-file",
                str(ready),
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "mpcnode",
                "serve",
                "--config",
                str(folder / "node.toml"),
                "--ready-file",
                str(ready),
            ]
        (self.root / "logs").mkdir(exist_ok=True)
        with (self.root / "logs" / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )

    def wait_ready(self, name: str) -> None:
        """Block until a daemon wrote its ready file; fail with its log if it died."""
        ready = self.root / name / "ready"
        limit = time.monotonic() + _READY_TIMEOUT_S
        while not ready.exists():
            code = self.processes[name].poll()
            if code is not None or time.monotonic() > limit:
                tail = (self.root / "logs" / f"{name}.log").read_text()[-2000:]
                raise Unavailable(f"{name} did not start (exit code {code}):\n{tail}")
            time.sleep(0.05)

    def stop_daemon(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` to a daemon and wait for it to exit; returns its exit code."""
        proc = self.processes.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            os.kill(proc.pid, signal.SIGCONT)  # a stalled (stopped) daemon must see it too
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def stop(self) -> None:
        """Stop every daemon still running."""
        for name in list(self.processes):
            self.stop_daemon(name)

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- clients ------------------------------------------------------------------------
    def tls(self, folder: str, stem: str) -> TlsFiles:
        """The TLS files `<root>/<folder>/<stem>.crt|key` with the CA beside them."""
        base = self.root / folder
        return TlsFiles(base / f"{stem}.crt", base / f"{stem}.key", base / "ca.crt")

    def local_client(self, party: str) -> LocalClient:
        """The party's own HR system talking to its node's local API."""
        return LocalClient(f"127.0.0.1:{self.ports[party]}", party, self.tls(party, f"{party}-hr"))

    def analyst(self) -> CoordinatorClient:
        """An analyst talking to the coordinator."""
        return CoordinatorClient(
            f"127.0.0.1:{self.ports['coordinator']}", self.tls("analyst", "analyst")
        )
