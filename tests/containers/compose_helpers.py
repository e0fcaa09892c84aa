"""Driving the docker compose simulation from a test: the compose CLI, containers, health.

The tests run `docker compose` (v2) or Debian's `docker-compose` (1.29), whichever is there
(`MPCNODE_COMPOSE` overrides, e.g. "docker-compose"), on the repository's docker-compose.yml
under a project name of their own, so they never touch a simulation a person is running.
They build nothing: the image (`MPCNODE_IMAGE`, default mpcnode:local) must exist, as
`deploy/offline/build.sh all` or `docker compose build` leaves it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENABLE_VARIABLE = "MPCNODE_CONTAINER_TESTS"
COMMAND_TIMEOUT = 300.0


def _succeeds(command: Sequence[str]) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def compose_command() -> list[str] | None:
    """The compose CLI to use: MPCNODE_COMPOSE, else `docker compose`, else `docker-compose`."""
    override = os.environ.get("MPCNODE_COMPOSE")
    if override:
        return shlex.split(override)
    if _succeeds(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def why_not_runnable() -> str | None:
    """Why the container tests cannot run here (None when they can)."""
    if os.environ.get(ENABLE_VARIABLE) != "1":
        return f"container tests run only with {ENABLE_VARIABLE}=1 (see .ci/run)"
    if not _succeeds(["docker", "info"]):
        return "no docker engine answers `docker info`"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` is installed"
    return None


@dataclass
class Compose:
    """One compose project of the simulation, with its own name and analyst port."""

    project: str
    coordinator_port: int
    image: str = field(default_factory=lambda: os.environ.get("MPCNODE_IMAGE", "mpcnode:local"))
    command: list[str] = field(default_factory=lambda: compose_command() or ["docker-compose"])
    # Override files layered on docker-compose.yml (a fault test's failpoints).
    overrides: tuple[Path, ...] = ()

    def env(self) -> dict[str, str]:
        """The environment of every compose call: ours, not a person's COMPOSE_* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env["MPCNODE_IMAGE"] = self.image
        env["MPC_COORDINATOR_PORT"] = str(self.coordinator_port)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run one compose command; on failure, raise with its output."""
        argv = [*self.command, "--project-name", self.project, "--file", str(COMPOSE_FILE)]
        for override in self.overrides:
            argv += ["--file", str(override)]
        done = subprocess.run(
            [*argv, *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"`{shlex.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def container(self, service: str) -> str:
        """The id of the (one) container of `service`."""
        ids = self.run("ps", "-q", service).stdout.split()
        assert len(ids) == 1, f"{service} has containers {ids}"
        return ids[0]

    def wait_healthy(self, services: Sequence[str], timeout: float = 180.0) -> None:
        """Block until every service's container is healthy; fail early if one exited."""
        ids = [self.container(s) for s in services]
        limit = time.monotonic() + timeout
        while True:
            states = _states(ids)
            if all(health == "healthy" for _, health in states.values()):
                return
            exited = {n: s for n, (s, _) in states.items() if s not in ("created", "running")}
            if exited or time.monotonic() > limit:
                logs = self.run("logs", "--no-color", "--tail", "40", check=False).stdout
                raise AssertionError(f"not healthy in time: {states}\n{logs}")
            time.sleep(1.0)

    def image_exists(self) -> bool:
        """True when the image the services run is present (the tests never build it)."""
        return _succeeds(["docker", "image", "inspect", self.image])


def _states(ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Container name -> (state, health) for each id, from one `docker inspect`."""
    out = subprocess.run(
        ["docker", "inspect", *ids],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    states = {}
    for info in json.loads(out):
        health = info["State"].get("Health") or {}
        states[info["Name"].lstrip("/")] = (info["State"]["Status"], health.get("Status", ""))
    return states
